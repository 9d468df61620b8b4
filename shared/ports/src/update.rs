//! The conditional read-modify-write of one key-value item, written once: read the item and
//! its version, compute what to write, write it on condition that nobody wrote in between
//! (absent: that it is still absent), and start again when someone did. State that is there
//! but cannot be read is an error, never a silent reset to empty: resetting would forget what
//! it counted or watched.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Condition, KeyValue, PortError, Written};

/// What the change decided, given the state read.
pub enum Change<T, R> {
    /// Nothing to write; `R` is the answer.
    Keep(R),
    /// Write this state; `R` is the answer once it is written.
    Write(T, R),
}

/// Why an update did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError<E> {
    #[error(transparent)]
    Port(#[from] PortError),
    /// The stored item is not a `T`: written by something else, or by an incompatible
    /// version. Retrying cannot help; the message carrying it goes to its dead-letter queue.
    #[error("the state at `{key}` cannot be read: {error}")]
    Unreadable { key: String, error: String },
    /// Every attempt lost to a concurrent write; a later delivery may succeed.
    #[error("the state at `{0}` kept changing under concurrent writes")]
    Contended(String),
    /// The change itself failed.
    #[error("{0}")]
    Change(E),
}

impl<E> UpdateError<E> {
    /// Whether a later attempt may succeed (a contended key, an unavailable store).
    pub fn is_retryable(&self) -> bool {
        match self {
            UpdateError::Port(e) => e.is_retryable(),
            UpdateError::Contended(_) => true,
            UpdateError::Unreadable { .. } | UpdateError::Change(_) => false,
        }
    }
}

/// Updates the item at `key` with `change`, at most `attempts` times: `change` sees the
/// state read (`None` when there is none) and says what to write. The write is conditional
/// on the version read, so two updates never both win on the same state.
pub async fn update<T, R, E>(
    kv: &dyn KeyValue,
    key: &str,
    ttl: Option<Duration>,
    attempts: usize,
    mut change: impl FnMut(Option<T>) -> Result<Change<T, R>, E>,
) -> Result<R, UpdateError<E>>
where
    T: Serialize + DeserializeOwned,
{
    for _ in 0..attempts {
        let (state, condition) = match kv.get(key).await? {
            Some(item) => {
                let state = serde_json::from_value::<T>(item.value).map_err(|e| {
                    UpdateError::Unreadable {
                        key: key.to_string(),
                        error: e.to_string(),
                    }
                })?;
                (Some(state), Condition::VersionIs(item.version))
            }
            None => (None, Condition::NotExists),
        };
        let (next, answer) = match change(state).map_err(UpdateError::Change)? {
            Change::Keep(answer) => return Ok(answer),
            Change::Write(next, answer) => (next, answer),
        };
        let value = serde_json::to_value(&next).map_err(|e| {
            PortError::Invalid(format!("the state for `{key}` cannot be written: {e}"))
        })?;
        match kv.put(key, value, condition, ttl).await? {
            Written::Yes { .. } => return Ok(answer),
            Written::ConditionFailed => continue,
        }
    }
    Err(UpdateError::Contended(key.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::LocalServices;
    use std::sync::Arc;

    #[derive(serde::Serialize, serde::Deserialize, Default, Clone, PartialEq, Debug)]
    struct Count {
        n: u32,
    }

    fn kv() -> (tempfile::TempDir, LocalServices) {
        let dir = tempfile::tempdir().unwrap();
        let kv =
            LocalServices::open(&dir.path().join("kv.db"), Arc::new(crate::SystemClock)).unwrap();
        (dir, kv)
    }

    async fn bump(kv: &dyn KeyValue) -> Result<u32, UpdateError<std::convert::Infallible>> {
        update(kv, "k", None, 3, |c: Option<Count>| {
            let mut c = c.unwrap_or_default();
            c.n += 1;
            Ok(Change::Write(c.clone(), c.n))
        })
        .await
    }

    #[tokio::test]
    async fn writes_what_the_change_makes_of_what_was_read() {
        let (_d, kv) = kv();
        assert_eq!(bump(&kv).await.unwrap(), 1);
        assert_eq!(bump(&kv).await.unwrap(), 2);
        let kept = update(&kv, "k", None, 3, |c: Option<Count>| {
            Ok::<_, std::convert::Infallible>(Change::Keep(c.map(|c| c.n)))
        })
        .await
        .unwrap();
        assert_eq!(kept, Some(2));
        assert_eq!(kv.get("k").await.unwrap().unwrap().value["n"], 2);
    }

    /// An item that is not the state is an error, not a reset to empty: the stored value
    /// stays as it was.
    #[tokio::test]
    async fn state_that_cannot_be_read_is_an_error_and_is_left_alone() {
        let (_d, kv) = kv();
        kv.put(
            "k",
            serde_json::json!({"n": "many"}),
            Condition::Always,
            None,
        )
        .await
        .unwrap();
        let e = bump(&kv).await.unwrap_err();
        assert!(matches!(e, UpdateError::Unreadable { .. }), "{e}");
        assert!(!e.is_retryable());
        assert_eq!(kv.get("k").await.unwrap().unwrap().value["n"], "many");
    }

    /// A write in between the read and the write makes the update read again, and the
    /// change is applied to what the other wrote.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_concurrent_write_makes_it_read_again() {
        let (_d, kv) = kv();
        let mut calls = 0;
        let kv2 = &kv;
        let n = update(&kv, "k", None, 3, |c: Option<Count>| {
            calls += 1;
            if calls == 1 {
                // Someone else writes first: this attempt's conditional write must fail.
                let _ =
                    block_on(kv2.put("k", serde_json::json!({"n": 10}), Condition::Always, None));
            }
            let mut c = c.unwrap_or_default();
            c.n += 1;
            Ok::<_, std::convert::Infallible>(Change::Write(c.clone(), c.n))
        })
        .await
        .unwrap();
        assert_eq!((n, calls), (11, 2));
    }

    /// Every attempt lost: a retryable contention, naming the key.
    #[tokio::test(flavor = "multi_thread")]
    async fn losing_every_attempt_is_contention() {
        let (_d, kv) = kv();
        let kv2 = &kv;
        let e = update(&kv, "k", None, 2, |c: Option<Count>| {
            let _ = block_on(kv2.put("k", serde_json::json!({"n": 1}), Condition::Always, None));
            let c = c.unwrap_or_default();
            Ok::<_, std::convert::Infallible>(Change::Write(c.clone(), c.n))
        })
        .await
        .unwrap_err();
        assert!(matches!(&e, UpdateError::Contended(k) if k == "k"), "{e}");
        assert!(e.is_retryable());
    }

    /// Runs a local adapter's future to completion inside a synchronous change (the local
    /// key-value store answers without waiting on anything).
    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
    }
}
