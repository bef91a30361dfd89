//! veritrail-collect: what the collectors need that is not I/O — RFC 6587
//! framing ([`framing`]), syslog messages into audit events ([`syslog`]),
//! the kernel audit log's records assembled and mapped ([`auditd`]),
//! journal entries ([`journal`]), file-integrity watching's scans,
//! bursts and changes ([`watch`]), the recognizers of security events in
//! message text ([`recognize`]), and the kernel's count of dropped UDP
//! datagrams ([`kernel`]). Pure — no sockets, no files, no clock — but for
//! [`kernel::udp_drops`], which reads `/proc`; tested with real sample
//! lines and fuzzed.

#![forbid(unsafe_code)]

pub mod auditd;
pub mod framing;
pub mod journal;
pub mod kernel;
pub mod recognize;
pub mod syslog;
pub mod watch;
