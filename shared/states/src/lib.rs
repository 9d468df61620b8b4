//! Amazon States Language for Helios: the workflows in `statemachines/` are deployed to AWS
//! Step Functions as they are, and this crate runs the very same files, so that `helios dev`
//! and the tests see what Step Functions would do.
//!
//! It does no I/O of its own: tasks go through the [`Host`] trait, and so do time and
//! randomness. [`validate`] checks a definition, following the Amazon States Language
//! specification (<https://states-language.net/spec.html>) and the Step Functions developer
//! guide; [`Definition`] is a checked definition, and [`execute`] runs it. [`local`] has a host
//! whose tasks are in-process functions and whose clock is virtual.

pub mod choice;
pub mod clock;
pub mod error;
pub mod exec;
pub mod history;
pub mod intrinsic;
pub mod jsonata;
pub mod local;
pub mod memory;
pub mod model;
pub mod path;
pub mod validate;

use serde_json::Value;

pub use error::Failure;
pub use exec::{execute, resume, Checkpoint, Host, Options, Outcome, Status, Target, TaskCall};
pub use validate::{validate, AslError};

/// A definition that passed validation, ready to run.
#[derive(Debug)]
pub struct Definition {
    pub machine: model::Machine,
}

impl Definition {
    /// Validates and compiles a definition; every fault is reported.
    pub fn new(definition: &Value) -> Result<Definition, Vec<AslError>> {
        validate(definition)?;
        let machine = model::compile(definition).map_err(|message| {
            vec![AslError {
                state: None,
                path: "$".into(),
                message,
            }]
        })?;
        Ok(Definition { machine })
    }

    /// Reads a definition from its JSON text; the error lists every fault in one line.
    pub fn from_text(text: &str) -> Result<Definition, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        Definition::new(&v).map_err(|errors| {
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}
