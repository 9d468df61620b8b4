//! Amazon States Language for Helios: the workflows in `statemachines/` are deployed to AWS
//! Step Functions as they are, and this crate reads them so that `helios dev` and the tests
//! can run the very same files.
//!
//! It must never do I/O of its own: tasks will go through a trait and time through a clock the
//! caller owns. This first part is the definition and its validation
//! ([`validate`]), following the Amazon States Language specification
//! (<https://states-language.net/spec.html>) and the Step Functions developer guide; the
//! interpreter comes next.

pub mod validate;

pub use validate::{validate, AslError};
