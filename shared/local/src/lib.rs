//! Local adapters for `helios dev` and the tests: a folder for blobs, one SQLite file for the
//! key-value store, the topics and the queues, and the workflows run by the ASL interpreter
//! on real time with checkpoints (`workflows`).
//!
//! SQLite runs in WAL mode with `synchronous=NORMAL`: a committed write survives the process
//! being killed at any moment (SIGKILL), which is the promise `helios dev` makes; surviving a
//! power cut is AWS's job, not a laptop's.

mod blob;
mod mail;
mod recorded;
mod services;
pub mod sqlite;
pub mod workflows;

pub use blob::FileBlobStore;
pub use mail::MailFile;
pub use recorded::RecordedWorkflows;
pub use services::{LocalServices, QueueConfig};
