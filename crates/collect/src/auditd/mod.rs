//! The Linux audit system's log (`/var/log/audit/audit.log`, or an audisp
//! plugin's standard input) into audit events: [`record`] parses one line,
//! [`assemble`] groups the records of one event by serial number, and
//! [`event`] maps an assembled event into a veritrail event.

pub mod assemble;
pub mod event;
pub mod record;

pub use assemble::{Assembler, AuditEvent, Output};
pub use event::to_event;
