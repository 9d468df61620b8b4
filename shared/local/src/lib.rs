//! Local adapters for `helios dev` and the tests: a folder for blobs, and one SQLite file
//! for the key-value store, the topics and the queues.
//!
//! SQLite runs in WAL mode with `synchronous=NORMAL`: a committed write survives the process
//! being killed at any moment (SIGKILL), which is the promise `helios dev` makes; surviving a
//! power cut is AWS's job, not a laptop's.

mod blob;
mod recorded;
mod services;
pub mod sqlite;

pub use blob::FileBlobStore;
pub use recorded::RecordedWorkflows;
pub use services::{LocalServices, QueueConfig};
