//! The application core of Helios: its use cases, between the pure engines (`helios-events`,
//! `helios-rules`, `helios-states`) and the outside world.
//!
//! Each use case is a struct of the ports it needs (`helios-ports`), built once per process
//! by whoever runs it: a Lambda's `main`, or `helios dev`. Nothing here speaks HTTP or knows
//! which adapter stands behind a port; the HTTP side (routes, authentication, problem
//! responses) is `helios-api`, the adapters are `helios-runtime` and `helios-aws`.
//!
//! - [`intake`]: accept events (after authentication) and emit Helios's own;
//! - [`outbox`]: publish accepted facts, and relay what the inline publish left;
//! - [`decide`]: decide one fact with the rule set, record it, start its workflows;
//! - [`expect`]: observe facts for the expectations, and check them at their deadline;
//! - [`record`], [`ack`]: what workflows report, and a person's acknowledgement;
//! - [`advise`], [`notify`]: the other task functions of the workflows.

pub mod ack;
pub mod advise;
pub mod decide;
pub mod expect;
pub mod intake;
pub mod keys;
pub mod migrate;
pub mod notify;
pub mod outbox;
pub mod record;
