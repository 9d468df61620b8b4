//! Serial updates of one key within a process.
//!
//! A read-modify-write of a key-value item is settled by a conditional put, retried when
//! another writer got there first ([`helios_ports::update`]). Between processes (Lambda
//! environments) that is the only way; within one process, the deciders of a batch that
//! touch the same hot window (every alarm of a service in one window, say) would mostly
//! retry each other: each retry reads, decodes, encodes and writes the whole window again,
//! and after [`crate::decide`]'s 16 attempts the message goes back to the queue for its
//! visibility timeout. Taking the key's turn first makes them queue instead, and a
//! conditional put then fails only against another process.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Turns per key, by stripes: two keys may share a stripe (and so wait for each other), never
/// one key two stripes.
#[derive(Clone)]
pub struct KeySerial {
    stripes: Arc<[tokio::sync::Mutex<()>]>,
}

impl KeySerial {
    pub const STRIPES: usize = 64;

    /// Waits for the turn of `key`; the turn ends when the guard is dropped.
    pub async fn turn(&self, key: &str) -> tokio::sync::MutexGuard<'_, ()> {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        self.stripes[(h.finish() % self.stripes.len() as u64) as usize]
            .lock()
            .await
    }
}

impl Default for KeySerial {
    fn default() -> KeySerial {
        KeySerial {
            stripes: (0..Self::STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        }
    }
}

impl std::fmt::Debug for KeySerial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySerial")
            .field("stripes", &self.stripes.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_key_has_one_turn_at_a_time() {
        let s = KeySerial::default();
        let first = s.turn("window/a").await;
        // The same key waits for the first turn to end.
        let again = tokio::time::timeout(std::time::Duration::from_millis(50), s.turn("window/a"));
        assert!(again.await.is_err(), "a second turn of the same key began");
        drop(first);
        let again = tokio::time::timeout(std::time::Duration::from_millis(50), s.turn("window/a"));
        assert!(
            again.await.is_ok(),
            "the key's turn did not come once the first ended"
        );
    }
}
