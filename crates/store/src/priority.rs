//! Threads that run below the ack path. The query indexer, the bucket
//! drainer (when acks do not wait for it) and other followers of a log
//! do work that may lag and catch up; acknowledging events may not.
//!
//! A nice value is not enough for that: it shares the CPU by weight, and a
//! woken ack-path thread (an HTTP worker, the sequencer, a sync thread,
//! each woken many times per batch) may wait out the slice of a nice-10
//! thread that holds the core. Under `SCHED_IDLE` a thread runs only on
//! time no normal thread wants, and is preempted the moment one wakes.
//! Measured in bench/NOTES.md (session 23): with the drainer and indexer
//! there, ingest with object storage went from a median 70.9 % to 88.5 %
//! of the rate without.
//!
//! `SCHED_IDLE` is below everything on the machine, not only below our
//! ack path: another busy process would stop the index and the bucket
//! copy for as long as it runs. So a background thread calls
//! [`keep_from_starving`] between units of work: when it waited more than
//! [`STARVED`] to run since the last call, it runs at nice
//! [`BACKGROUND_NICE`] (a small but certain share) for [`RAISED_FOR`],
//! then goes back to `SCHED_IDLE`.

use std::cell::RefCell;
use std::time::{Duration, Instant};

/// The nice value used where `SCHED_IDLE` is refused, and while a starved
/// background thread is raised.
pub const BACKGROUND_NICE: i32 = 10;

/// Waiting this long to run between two calls of [`keep_from_starving`]
/// counts as starved.
pub const STARVED: Duration = Duration::from_millis(500);

/// How long a starved thread runs at nice [`BACKGROUND_NICE`].
pub const RAISED_FOR: Duration = Duration::from_secs(10);

thread_local! {
    static GUARD: RefCell<Option<Guard>> = const { RefCell::new(None) };
}

/// Puts the calling thread below the ack path (`SCHED_IDLE`; nice
/// [`BACKGROUND_NICE`] if the system refuses it). Threads it starts
/// inherit this, so a shared thread pool must not be started from it.
pub fn below_ack_path() {
    idle();
    GUARD.with(|g| *g.borrow_mut() = Some(Guard::new(run_delay().unwrap_or(0))));
}

/// On a thread put [`below_ack_path`]: raises it for a while if it has
/// been starved since the last call, or lowers it again once that is over
/// (see the module's text). Elsewhere it does nothing. Cheap enough to call
/// for every few hundred entries (one read of /proc).
pub fn keep_from_starving() {
    GUARD.with(|g| {
        let mut g = g.borrow_mut();
        let Some(guard) = g.as_mut() else { return };
        let Some(delay) = run_delay() else { return };
        match guard.observe(delay, Instant::now()) {
            Some(Mode::Raised) => raised(),
            Some(Mode::Idle) => idle(),
            None => {}
        }
    });
}

fn idle() {
    if !set_policy(thread_priority::NormalThreadSchedulePolicy::Idle) {
        raised();
    }
}

fn raised() {
    set_policy(thread_priority::NormalThreadSchedulePolicy::Other);
    let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), BACKGROUND_NICE);
}

/// Sets the calling thread's scheduling policy; whether it was allowed.
fn set_policy(policy: thread_priority::NormalThreadSchedulePolicy) -> bool {
    thread_priority::set_thread_priority_and_policy(
        thread_priority::thread_native_id(),
        thread_priority::ThreadPriority::Min,
        thread_priority::ThreadSchedulePolicy::Normal(policy),
    )
    .is_ok()
}

/// How long the calling thread has waited to run, in all (ns; the second
/// field of /proc/thread-self/schedstat).
fn run_delay() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().nth(1)?.parse().ok()
}

/// What a background thread should run as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Idle,
    Raised,
}

/// The starvation guard's decisions, apart from the clock and /proc.
#[derive(Debug)]
struct Guard {
    last_delay: u64,
    raised_until: Option<Instant>,
}

impl Guard {
    fn new(delay: u64) -> Guard {
        Guard {
            last_delay: delay,
            raised_until: None,
        }
    }

    /// Takes the thread's run delay so far; says when to change modes.
    fn observe(&mut self, delay: u64, now: Instant) -> Option<Mode> {
        let waited = Duration::from_nanos(delay.saturating_sub(self.last_delay));
        self.last_delay = delay;
        match self.raised_until {
            None if waited > STARVED => {
                self.raised_until = Some(now + RAISED_FOR);
                Some(Mode::Raised)
            }
            Some(until) if now >= until => {
                self.raised_until = None;
                Some(Mode::Idle)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scheduling policy (field 41 of /proc's stat: 5 is SCHED_IDLE)
    /// and nice value (field 19) of the calling thread.
    fn policy_and_nice() -> (u32, i32) {
        let tid = rustix::thread::gettid().as_raw_nonzero();
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
        let f: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        // Fields after the name start at field 3.
        (f[41 - 3].parse().unwrap(), f[19 - 3].parse().unwrap())
    }

    #[test]
    fn a_background_thread_yields_to_the_ack_path_and_the_caller_is_untouched() {
        let before = policy_and_nice();
        let (policy, nice) = std::thread::spawn(|| {
            below_ack_path();
            policy_and_nice()
        })
        .join()
        .unwrap();
        assert!(
            policy == 5 || nice == BACKGROUND_NICE,
            "SCHED_IDLE (5) or nice {BACKGROUND_NICE}: policy {policy}, nice {nice}"
        );
        assert_eq!(policy_and_nice(), before, "only the calling thread changes");
    }

    #[test]
    fn a_starved_thread_is_raised_for_a_while_then_lowered_again() {
        let t0 = Instant::now();
        let ms = |n: u64| n * 1_000_000;
        let mut g = Guard::new(ms(1_000));
        assert_eq!(g.observe(ms(1_400), t0), None, "waited 400 ms: not starved");
        assert_eq!(
            g.observe(ms(1_901), t0),
            Some(Mode::Raised),
            "waited 501 ms"
        );
        let later = t0 + RAISED_FOR;
        assert_eq!(
            g.observe(ms(3_000), t0 + Duration::from_secs(1)),
            None,
            "raised already"
        );
        assert_eq!(
            g.observe(ms(3_000), later),
            Some(Mode::Idle),
            "raised for long enough"
        );
        assert_eq!(g.observe(ms(3_100), later), None);
        assert_eq!(
            g.observe(ms(3_700), later),
            Some(Mode::Raised),
            "starved again"
        );
    }

    #[test]
    fn keep_from_starving_raises_a_starved_background_thread() {
        // A thread on SCHED_IDLE beside a busy normal thread per core: it
        // waits to run, and its guard raises it.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let busy: Vec<_> = (0..cores)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        std::hint::black_box(0u64);
                    }
                })
            })
            .collect();
        let raised = std::thread::spawn(|| {
            below_ack_path();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                // Work, then look.
                let t = Instant::now();
                while t.elapsed() < Duration::from_millis(5) {
                    std::hint::black_box(0u64);
                }
                keep_from_starving();
                if policy_and_nice() == (0, BACKGROUND_NICE) {
                    return true;
                }
            }
            false
        })
        .join()
        .unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for b in busy {
            b.join().unwrap();
        }
        assert!(
            raised,
            "a starved SCHED_IDLE thread was raised to nice {BACKGROUND_NICE}"
        );
    }
}
