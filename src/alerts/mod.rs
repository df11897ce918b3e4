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

use crate::detector::{Change, Incident};

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
    /// made; `open` gives the open incident as it stands, asked for only when
    /// receivers are told. Queues whatever receivers must be told and returns the
    /// alert when its state changed. Never waits.
    pub fn observe(
        &mut self,
        time: i64,
        change: Option<&Change>,
        open: impl FnOnce() -> Option<Incident>,
    ) -> Option<Alert> {
        let mut step = self.alerting.observe(time, change)?;
        if matches!(step.notify, Some(Notify::Firing | Notify::Repeat))
            && let Some(alert) = open().and_then(|i| self.alerting.refresh(&i).cloned())
        {
            step.alert = alert;
        }
        self.tell(&step, time, false);
        Some(step.alert)
    }

    /// Ends the alert in progress as the session stops at `time` (its last
    /// sample's), `open` giving the open incident as it stands: a firing alert is
    /// resolved for the webhooks and commands told it fired. Alertmanager is not
    /// told: it resolves the alert itself once its `endsAt` passes, as for a
    /// stopped Prometheus, so a restart within minutes continues the same alert
    /// there. Returns the alert when one was in progress.
    pub fn stop(&mut self, time: i64, open: impl FnOnce() -> Option<Incident>) -> Option<Alert> {
        if let Some(incident) = open() {
            self.alerting.refresh(&incident);
        }
        let step = self.alerting.stop(time)?;
        self.tell(&step, time, true);
        Some(step.alert)
    }

    /// Logs and queues what `step` tells receivers, if anything; all but
    /// Alertmanager when the session is `stopping`.
    fn tell(&self, step: &Step, time: i64, stopping: bool) {
        let Some(notify) = step.notify else { return };
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
        if stopping {
            self.dispatcher.send_at_stop(&message);
        } else {
            self.dispatcher.send(&message);
        }
    }
}
