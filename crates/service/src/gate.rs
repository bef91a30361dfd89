//! The ack gate: what must hold, beyond the local fsync, before an append
//! is acknowledged, and whether a log takes appends at all. The edges
//! install one ([`crate::Service::set_ack_gate`]); object storage with
//! `--durability object` is the first: an event is acknowledged only once
//! the bucket holds it, and a log whose bucket refuses uploads refuses
//! appends instead of acknowledging what it cannot store there.

/// See the module documentation.
pub trait AckGate: Send + Sync + 'static {
    /// Why `log` refuses appends now (`None`: it takes them).
    fn refuses(&self, log: &str) -> Option<String>;

    /// Whether acks wait at all ([`AckGate::wait`] is then called off the
    /// async workers for every ingest; `false` skips that hop).
    fn waits(&self) -> bool {
        true
    }

    /// Blocks until the first `size` entries of `log` are stored wherever
    /// the gate requires.
    ///
    /// # Errors
    /// Why they are not (after the gate's own timeout).
    fn wait(&self, log: &str, size: u64) -> Result<(), String>;
}
