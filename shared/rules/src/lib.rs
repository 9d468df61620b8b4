//! The rules engine of Helios: a pure crate that turns (rule set, canonical event, window
//! counts, now) into a decision and its explanation.
//!
//! It must never do I/O, read a clock or draw random numbers: the same inputs give the same
//! decision, byte for byte. Time and window counts are inputs; the caller fetches and stores
//! them.
//!
//! This first part is event patterns with the semantics of Amazon EventBridge as Event Ruler
//! implements them: [`pattern`] parses and validates a pattern into sub-rules, [`event`]
//! flattens an event into leaf values that remember which array elements they came from, and
//! [`reference`] matches the two in the plainest way, as the standard any faster matcher is
//! held to.

pub mod compiled;
pub mod event;
pub mod pattern;
pub mod reference;
mod scan;

pub use compiled::{CompiledPatterns, Scratch};
pub use pattern::{Pattern, PatternError};
