//! The rules engine of Helios: a pure crate that turns (rule set, canonical event, window
//! counts, now) into a decision and its explanation.
//!
//! It must never do I/O, read a clock or draw random numbers: the same inputs give the same
//! decision, byte for byte. Time and window counts are inputs; the caller fetches and stores
//! them.
//!
//! A rule set ([`ruleset`]) is loaded from YAML documents the caller reads. For each event the
//! engine says which windows the event touches ([`window`]) and which dedupe keys matter; the
//! caller fetches those through its key-value port and hands them back to
//! [`RuleSet::decide`], which returns a [`Decision`] with a trace of every rule that fired or
//! nearly did ([`decide`]). Rule tests ([`testing`]) replay events through all of it.
//!
//! Under the rules are event patterns with the semantics of Amazon EventBridge as Event Ruler
//! implements them: [`pattern`] parses and validates a pattern into sub-rules, [`event`]
//! flattens an event into leaf values that remember which array elements they came from, and
//! [`reference`] matches the two in the plainest way, as the standard any faster matcher is
//! held to.

pub mod compiled;
pub mod condition;
pub mod decide;
pub mod duration;
pub mod event;
pub mod expect;
pub mod explain;
pub mod pattern;
pub mod reads;
pub mod reference;
pub mod ruleset;
mod scan;
pub mod scope;
pub mod template;
pub mod testing;
pub mod window;

pub use compiled::{CompiledPatterns, Scratch};
pub use decide::{Decision, Inputs};
pub use pattern::{Pattern, PatternError};
pub use ruleset::{LoadError, RuleSet, SourceFile};
