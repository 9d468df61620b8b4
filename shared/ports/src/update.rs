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
        let (state, condition) = match kv.get_text(key).await? {
            Some(item) => {
                let state =
                    serde_json::from_str::<T>(&item.text).map_err(|e| UpdateError::Unreadable {
                        key: key.to_string(),
                        error: e.to_string(),
                    })?;
                (Some(state), Condition::VersionIs(item.version))
            }
            None => (None, Condition::NotExists),
        };
        let (next, answer) = match change(state).map_err(UpdateError::Change)? {
            Change::Keep(answer) => return Ok(answer),
            Change::Write(next, answer) => (next, answer),
        };
        let text = serde_json::to_string(&next).map_err(|e| {
            PortError::Invalid(format!("the state for `{key}` cannot be written: {e}"))
        })?;
        match kv.put_text(key, text, condition, ttl).await? {
            Written::Yes { .. } => return Ok(answer),
            Written::ConditionFailed => continue,
        }
    }
    Err(UpdateError::Contended(key.to_string()))
}
