//! What the tests of Helios start for themselves: a throwaway PostgreSQL cluster from the
//! installed server binaries. Every server binds to 127.0.0.1 and stops by itself: when the
//! handle is dropped, and, through a watchdog, when the test process dies without dropping it.
//!
//! A missing prerequisite is an error that says how to install it, never a silent skip.

pub mod moto;
pub mod postgres;
pub mod pyarrow;
