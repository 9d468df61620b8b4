//! Time for executions: timestamps as Step Functions writes them, and a virtual clock that
//! runs a day of `Wait` states and retry back-offs in no time.
//!
//! [`run_virtual`] drives an execution's future on the calling thread. Whenever nothing can
//! make progress, it moves the clock to the earliest pending timer and wakes it, so time passes
//! exactly as the definition says, but instantly; the order of events is the order they would
//! have in real time.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use chrono::{DateTime, SecondsFormat, Utc};

/// Milliseconds since the Unix epoch, as `2026-11-23T12:00:00.000Z`.
pub fn iso(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Reads a timestamp as the States Language takes it: RFC 3339 with an uppercase `T`, and an
/// uppercase `Z` when there is no numeric offset. Returns milliseconds since the epoch.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    if s.len() < 20 || s.as_bytes().get(10) != Some(&b'T') || s.ends_with('z') {
        return None;
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

struct Timers {
    now: i64,
    seq: u64,
    heap: BinaryHeap<Reverse<(i64, u64)>>,
    wakers: HashMap<u64, Waker>,
}

/// A clock that only moves when [`run_virtual`] finds every part of an execution waiting.
#[derive(Clone)]
pub struct VirtualClock {
    inner: Rc<RefCell<Timers>>,
}

impl VirtualClock {
    pub fn new(start_ms: i64) -> VirtualClock {
        VirtualClock {
            inner: Rc::new(RefCell::new(Timers {
                now: start_ms,
                seq: 0,
                heap: BinaryHeap::new(),
                wakers: HashMap::new(),
            })),
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.inner.borrow().now
    }

    /// A future that completes when the clock reaches `at_ms`.
    pub fn sleep_until(&self, at_ms: i64) -> Sleep {
        Sleep {
            clock: self.clone(),
            at: at_ms,
            id: None,
        }
    }

    /// Moves the clock to the earliest timer and wakes what waits on it; false when no timer
    /// is pending.
    fn advance(&self) -> bool {
        let mut t = self.inner.borrow_mut();
        // Timers whose sleep was dropped (a task that beat its timeout) do not move the clock.
        while let Some(Reverse((_, id))) = t.heap.peek().copied() {
            if t.wakers.contains_key(&id) {
                break;
            }
            t.heap.pop();
        }
        let Some(Reverse((at, _))) = t.heap.peek().copied() else {
            return false;
        };
        t.now = t.now.max(at);
        let now = t.now;
        let mut wake = Vec::new();
        while let Some(Reverse((at, id))) = t.heap.peek().copied() {
            if at > now {
                break;
            }
            t.heap.pop();
            wake.extend(t.wakers.remove(&id));
        }
        drop(t);
        for w in wake {
            w.wake();
        }
        true
    }
}

/// See [`VirtualClock::sleep_until`].
pub struct Sleep {
    clock: VirtualClock,
    at: i64,
    id: Option<u64>,
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut t = self.clock.inner.borrow_mut();
        if t.now >= self.at {
            return Poll::Ready(());
        }
        match self.id {
            Some(id) => {
                t.wakers.insert(id, cx.waker().clone());
            }
            None => {
                t.seq += 1;
                let id = t.seq;
                let at = self.at;
                t.heap.push(Reverse((at, id)));
                t.wakers.insert(id, cx.waker().clone());
                drop(t);
                self.id = Some(id);
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            if let Ok(mut t) = self.clock.inner.try_borrow_mut() {
                t.wakers.remove(&id);
            }
        }
    }
}

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Runs `fut` to completion on this thread in virtual time. Returns `None` if it waits for
/// something other than the clock that never comes (nothing woke it and no timer is pending).
pub fn run_virtual<F: Future>(clock: &VirtualClock, fut: F) -> Option<F::Output> {
    let flag = Arc::new(Flag(AtomicBool::new(true)));
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        flag.0.store(false, Ordering::SeqCst);
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return Some(v);
        }
        if flag.0.load(Ordering::SeqCst) {
            continue;
        }
        if !clock.advance() {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_follow_the_states_language_profile() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_timestamp("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_timestamp("1970-01-01t00:00:01Z"), None);
        assert_eq!(parse_timestamp("1970-01-01T00:00:01z"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(iso(1500), "1970-01-01T00:00:01.500Z");
    }

    #[test]
    fn a_day_of_sleeping_takes_no_time_and_keeps_order() {
        let clock = VirtualClock::new(0);
        let log = RefCell::new(Vec::new());
        let out = run_virtual(&clock, async {
            let a = async {
                clock.sleep_until(86_400_000).await;
                log.borrow_mut().push(("a", clock.now_ms()));
            };
            let b = async {
                clock.sleep_until(1_000).await;
                log.borrow_mut().push(("b", clock.now_ms()));
            };
            futures_util::future::join(a, b).await;
            clock.now_ms()
        });
        assert_eq!(out, Some(86_400_000));
        assert_eq!(*log.borrow(), vec![("b", 1_000), ("a", 86_400_000)]);
    }

    #[test]
    fn waiting_on_nothing_is_reported() {
        let clock = VirtualClock::new(0);
        assert_eq!(run_virtual(&clock, std::future::pending::<()>()), None);
    }
}
