//! Updates of one key within a process, combined.
//!
//! A read-modify-write of a key-value item is settled by a conditional put, retried when
//! another writer got there first ([`helios_ports::update`]). Between processes (Lambda
//! environments) that is the only way. Within one process, the deciders of a batch that touch
//! the same hot window (every alarm of a service in one window, say) would retry each other:
//! each retry reads, decodes, encodes and writes the whole window again, and after
//! [`crate::decide`]'s 16 attempts the message goes back to the queue for its visibility
//! timeout. Taking turns instead still reads, decodes, encodes and writes the whole window once
//! per event, one event after the other, so a hot window caps the decisions of the whole
//! process.
//!
//! [`Combine`] makes the updates of one key wait for each other and then go *together*: while
//! one update of a key runs, the next ones queue; when it ends, the first of them leads the
//! next update for all that queued meanwhile (one read, one write), and answers each. Under
//! load the groups grow by themselves, as a group commit's do; alone, an update goes at once.
//! A conditional put then fails only against another process.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

/// The update that was to include an item was dropped before it ended (its task was
/// cancelled): nothing is known of whether it was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the combined update of this key was abandoned before it ended")]
pub struct Abandoned;

/// Per key, the items waiting for the update under way to end. A key is present while an
/// update of it is under way.
pub struct Combine<T, R> {
    queues: Mutex<HashMap<String, Vec<Waiter<T, R>>>>,
    max_group: usize,
}

struct Waiter<T, R> {
    item: T,
    tx: oneshot::Sender<Turn<T, R>>,
}

/// What a waiting item is told: its answer, or that it leads the next update (with the items
/// that queued behind it).
enum Turn<T, R> {
    Done(R),
    Lead(T, Vec<Waiter<T, R>>),
}

impl<T, R> Combine<T, R> {
    /// At most `max_group` items go in one update (the rest wait for the next).
    pub fn new(max_group: usize) -> Combine<T, R> {
        Combine {
            queues: Mutex::new(HashMap::new()),
            max_group: max_group.max(1),
        }
    }

    fn queues(&self) -> MutexGuard<'_, HashMap<String, Vec<Waiter<T, R>>>> {
        // Nothing panics while holding the lock; a poisoned map is still consistent.
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies `item` to `key` with the items of the same key that come meanwhile: `apply`
    /// gets them in the order they came and returns one answer for each, in that order. Only
    /// one `apply` of a key runs at a time in this process; the `apply` of whichever caller
    /// leads is the one that runs, so every caller's must do the same.
    pub async fn run<F, Fut>(&self, key: &str, item: T, apply: F) -> Result<R, Abandoned>
    where
        F: FnOnce(Vec<T>) -> Fut,
        Fut: Future<Output = Vec<R>>,
    {
        // The lock is held only here, never across an await.
        let start = {
            let mut queues = self.queues();
            match queues.get_mut(key) {
                None => {
                    queues.insert(key.to_string(), Vec::new());
                    Ok(item)
                }
                Some(waiting) => {
                    let (tx, rx) = oneshot::channel();
                    waiting.push(Waiter { item, tx });
                    Err(rx)
                }
            }
        };
        let (mine, others) = match start {
            Ok(item) => (item, Vec::new()),
            Err(rx) => match rx.await {
                Ok(Turn::Done(r)) => return Ok(r),
                Ok(Turn::Lead(item, others)) => (item, others),
                Err(_) => return Err(Abandoned),
            },
        };
        // From here this caller leads the key: whatever happens (even if this future is
        // dropped half-way), the guard passes the lead on or frees the key.
        let lead = Lead { combine: self, key };
        let (items, answer_to): (Vec<T>, Vec<_>) = std::iter::once((mine, None))
            .chain(others.into_iter().map(|w| (w.item, Some(w.tx))))
            .unzip();
        let mut answers = apply(items).await.into_iter();
        let own = answers.next();
        for (tx, answer) in answer_to.into_iter().skip(1).zip(answers) {
            if let Some(tx) = tx {
                // A waiter that went away needs no answer.
                let _ = tx.send(Turn::Done(answer));
            }
        }
        drop(lead);
        own.ok_or(Abandoned)
    }
}

/// The lead of a key's updates, passed on when dropped: to the first item that queued
/// meanwhile (with those behind it, up to the group's size), or, when none did, the key is
/// freed.
struct Lead<'a, T, R> {
    combine: &'a Combine<T, R>,
    key: &'a str,
}

impl<T, R> Drop for Lead<'_, T, R> {
    fn drop(&mut self) {
        let mut queues = self.combine.queues();
        let Some(waiting) = queues.get_mut(self.key) else {
            return;
        };
        loop {
            if waiting.is_empty() {
                queues.remove(self.key);
                return;
            }
            let take = waiting.len().min(self.combine.max_group);
            let mut group: Vec<Waiter<T, R>> = waiting.drain(..take).collect();
            let first = group.remove(0);
            match first.tx.send(Turn::Lead(first.item, group)) {
                Ok(()) => return,
                // The first waiter went away: the next group is offered to the others.
                Err(Turn::Lead(_, group)) => {
                    let rest = std::mem::take(waiting);
                    waiting.extend(group);
                    waiting.extend(rest);
                }
                Err(Turn::Done(_)) => return,
            }
        }
    }
}

impl<T, R> Default for Combine<T, R> {
    fn default() -> Combine<T, R> {
        Combine::new(256)
    }
}

impl<T, R> std::fmt::Debug for Combine<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Combine")
            .field("keys_under_way", &self.queues().len())
            .field("max_group", &self.max_group)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn updates_of_one_key_that_come_meanwhile_go_together_and_each_gets_its_answer() {
        let c = Arc::new(Combine::<u32, u32>::default());
        let applies = Arc::new(AtomicUsize::new(0));
        let (release, held) = oneshot::channel::<()>();
        // The first update holds the key until released.
        let first = {
            let c = c.clone();
            let applies = applies.clone();
            tokio::spawn(async move {
                c.run("window/a", 1, |items| async move {
                    applies.fetch_add(1, Ordering::SeqCst);
                    let _ = held.await;
                    items.iter().map(|i| i * 10).collect()
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut later = Vec::new();
        for i in 2..=5 {
            let c = c.clone();
            let applies = applies.clone();
            later.push(tokio::spawn(async move {
                c.run("window/a", i, |items| async move {
                    applies.fetch_add(1, Ordering::SeqCst);
                    assert_eq!(
                        items,
                        vec![2, 3, 4, 5],
                        "the waiting items go in one group, in order"
                    );
                    items.iter().map(|i| i * 10).collect()
                })
                .await
            }));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Another key does not wait for the first.
        assert_eq!(c.run("window/b", 7, |i| async move { i }).await, Ok(7));
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Ok(10));
        for (i, l) in later.into_iter().enumerate() {
            assert_eq!(l.await.unwrap(), Ok((i as u32 + 2) * 10));
        }
        assert_eq!(
            applies.load(Ordering::SeqCst),
            2,
            "two updates for five items"
        );
        assert!(c.queues().is_empty(), "the keys are freed");
    }

    #[tokio::test]
    async fn a_lead_dropped_half_way_abandons_its_group_and_passes_the_key_on() {
        let c = Arc::new(Combine::<u32, u32>::new(1));
        let stuck = {
            let c = c.clone();
            tokio::spawn(async move { c.run("k", 1, |_| std::future::pending::<Vec<u32>>()).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let waiting: Vec<_> = (2..=3)
            .map(|i| {
                let c = c.clone();
                tokio::spawn(async move { c.run("k", i, |items| async move { items }).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        stuck.abort();
        // With groups of one, each waiting item leads an update of its own.
        for (i, w) in waiting.into_iter().enumerate() {
            assert_eq!(w.await.unwrap(), Ok(i as u32 + 2));
        }
        assert!(c.queues().is_empty());
    }

    #[tokio::test]
    async fn an_item_whose_update_is_dropped_is_told_so() {
        let c = Arc::new(Combine::<u32, u32>::default());
        let (go, started) = oneshot::channel::<()>();
        let stuck = {
            let c = c.clone();
            tokio::spawn(async move {
                c.run("k", 1, |_| async move {
                    let _ = go.send(());
                    std::future::pending::<Vec<u32>>().await
                })
                .await
            })
        };
        started.await.unwrap();
        // Queued behind the stuck update, then led by this one…
        let second = {
            let c = c.clone();
            tokio::spawn(async move {
                c.run("k", 2, |items| async move {
                    std::future::pending::<()>().await;
                    items
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let third = {
            let c = c.clone();
            tokio::spawn(async move { c.run("k", 3, |items| async move { items }).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        stuck.abort();
        tokio::time::sleep(Duration::from_millis(20)).await;
        // …2 now leads a group with 3 in it; dropping 2 leaves 3 without an answer.
        second.abort();
        assert_eq!(third.await.unwrap(), Err(Abandoned));
        assert!(c.queues().is_empty());
    }
}
