//! veritrail-rules: the alert rule engine.
//!
//! Pure: no I/O, no threads, no clock of its own. The server feeds it the
//! stored events of each log in index order ([`Engine::observe`]) and the
//! time and health of the logs ([`Engine::tick`]); it answers with the
//! [`Alert`]s to record and deliver. Rule time is the event's `received_at`
//! (the log's clock); `tick` takes the same clock's "now".
//!
//! - [`mod@file`]: the rules file (TOML), checked with precise errors (file,
//!   line, rule, what is wrong) before anything runs.
//! - [`matcher`]: the filters a rule applies to an event's fields.
//! - [`when`]: time-of-day and weekday windows.
//! - [`engine`]: the rule kinds (`match`, `threshold`, `sequence`,
//!   `new_value`, `absence`, `integrity`), cool-downs, and the state that
//!   survives a restart ([`engine::Saved`]): cool-downs, remembered values
//!   and silences are saved; windows are rebuilt by replaying the log from
//!   [`Engine::rebuild_from`].
//!
//! docs/ALERTS.md is the user's reference for the rule language.

#![forbid(unsafe_code)]

pub mod duration;
pub mod engine;
pub mod file;
pub mod matcher;
pub mod when;

pub use engine::{Alert, Engine, Health, Observed, Saved, Trigger};
pub use file::{Action, RuleError, RuleSet, Webhook, WebhookFormat};
