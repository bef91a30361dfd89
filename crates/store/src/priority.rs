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

/// The nice value used where `SCHED_IDLE` is refused.
pub const BACKGROUND_NICE: i32 = 10;

/// Puts the calling thread below the ack path (`SCHED_IDLE`; nice
/// [`BACKGROUND_NICE`] if the system refuses it). Threads it starts
/// inherit this, so a shared thread pool must not be started from it.
pub fn below_ack_path() {
    use thread_priority::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
        ThreadPriority, ThreadSchedulePolicy,
    };
    let idle = set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Min,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
    );
    if idle.is_err() {
        let _ =
            rustix::process::setpriority_process(Some(rustix::thread::gettid()), BACKGROUND_NICE);
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
}
