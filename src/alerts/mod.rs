//! Alerts: telling someone of an incident through what they already run
//! (Alertmanager, any webhook receiver, a command). An alert is an incident that
//! lasted and mattered, not a row.
//!
//! [`config`] reads who is told and the policy; [`policy`] decides, sample by
//! sample, when an incident fires, repeats and resolves; [`payload`] writes what
//! receivers get; [`delivery`] gets it there off the collector's path, with
//! [`exec`] for commands. [`Alerts`] joins them for a session.

pub mod config;
pub mod delivery;
pub mod exec;
pub mod payload;
pub mod policy;

use std::sync::Arc;

pub use config::{AlertFlags, AlertsConfig, AlertsError, Receiver, Target};
pub use delivery::{Dispatcher, ReceiverStatus};
pub use payload::{Message, Origin};
pub use policy::{Alert, AlertState, Alerting, Notify, Policy, Step};

use crate::detector::Change;

/// A session's alerting: the policy's state and the receivers' dispatcher.
pub struct Alerts {
    alerting: Alerting,
    origin: Origin,
    dispatcher: Arc<Dispatcher>,
}

impl Alerts {
    /// Alerts under `policy`, labelled from `origin`, told through `dispatcher`.
    pub fn new(policy: Policy, origin: Origin, dispatcher: Arc<Dispatcher>) -> Alerts {
        Alerts {
            alerting: Alerting::new(policy),
            origin,
            dispatcher,
        }
    }

    /// Takes the next sample, at `time` (Unix ms), with the incident change it
    /// made; queues whatever receivers must be told and returns the alert when
    /// its state changed. Never waits.
    pub fn observe(&mut self, time: i64, change: Option<&Change>) -> Option<Alert> {
        let step = self.alerting.observe(time, change)?;
        if let Some(notify) = step.notify {
            let message = Message::of(&step.alert, notify, &self.origin, time);
            tracing::info!(
                "alert {} {}: {}",
                step.alert.id,
                match notify {
                    Notify::Firing => "fires",
                    Notify::Repeat => "still fires",
                    Notify::Resolved => "resolved",
                },
                step.alert.summary
            );
            self.dispatcher.send(&message);
        }
        Some(step.alert)
    }
}
