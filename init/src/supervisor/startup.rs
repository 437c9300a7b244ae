//! The start-up: the "all services spawned" milestone, init's raised
//! priority and its end, and the reports to the server (services up, then
//! alive every minute).

use super::Supervisor;
use crate::service::State;
use crate::sys::Sys;
use crate::{info, warn};
use std::time::Duration;

impl Supervisor {
    /// Services with a live process.
    fn running(&self) -> usize {
        self.services.iter().filter(|s| s.pid().is_some()).count()
    }

    /// Every [`crate::report::ALIVE_EVERY`]: tell the server the node still
    /// runs (skipped while the previous report's helper is still waiting).
    pub(super) fn send_alive(&mut self, sys: &mut dyn Sys, now: Duration) {
        let Some(due) = self.next_alive else {
            return;
        };
        if now < due {
            return;
        }
        self.next_alive = Some(now + crate::report::ALIVE_EVERY);
        if self.report_pid.is_none() {
            let running = self.running();
            self.report_pid = crate::report::alive(sys, now.saturating_sub(self.t0), running);
        }
    }

    /// At the end of the start-up window, niced services get normal priority.
    pub(super) fn end_startup(&mut self, sys: &mut dyn Sys, now: Duration) {
        match self.startup_until {
            Some(until) if until <= now => self.startup_until = None,
            _ => return,
        }
        if !self.all_spawned_logged {
            // A service still waits (for a mount, say): init has no reason
            // to stay ahead of everything any longer.
            if let Err(e) = sys.set_own_priority(false) {
                warn!("could not lower init's priority after the start-up: {e}");
            }
        }
        let mut lifted = vec![];
        for s in self.services.iter().filter(|s| s.spec.startup_nice != 0) {
            if let Some(pid) = s.pid() {
                match sys.renice_group(pid, 0) {
                    Ok(()) => lifted.push(s.spec.name.as_str()),
                    Err(e) => warn!("{}: could not renice pid {pid} to 0: {e}", s.spec.name),
                }
            }
        }
        if !lifted.is_empty() {
            info!(
                "start-up over: {} back to normal priority",
                lifted.join(", ")
            );
        }
    }

    /// "all services spawned": the moment every service has been started
    /// (or skipped/given up). The fstab mounts run in the background and
    /// are not part of it (their helpers are forked right after). Logs it
    /// the first time and returns when it was reached.
    pub(super) fn milestone(&mut self, sys: &mut dyn Sys) -> Option<Duration> {
        if self.all_spawned_logged
            || self
                .services
                .iter()
                .any(|s| matches!(s.state, State::Waiting))
        {
            return None;
        }
        self.all_spawned_logged = true;
        let running = self.running();
        let at = sys.monotonic();
        info!(
            // The suffix is the test bed's "services up" timeline marker
            // (the fixed seed Rcinit prints the same words).
            "all services spawned ({running} running) {} ms after init start; diskless: services up",
            crate::log::Millis(at.saturating_sub(self.t0))
        );
        Some(at)
    }

    /// After the milestone (and the late steps): services get the CPU, the
    /// console and the server hear about it.
    pub(super) fn after_milestone(&mut self, sys: &mut dyn Sys, at: Duration) {
        if let Err(e) = sys.set_own_priority(false) {
            warn!("could not lower init's priority after the start-up: {e}");
        }
        crate::log::release();
        // Our stamps are CLOCK_MONOTONIC, the kernel's its printk clock
        // (tens of ms apart at boot): one line stamped by both lets the
        // console timeline (and `bench init`) line them up.
        let mono = crate::log::Secs(sys.monotonic());
        let _ = sys.write_kmsg(&format!("{}{mono}\n", crate::log::KMSG_PROBE));
        let running = self.running();
        self.report_pid = crate::report::services_up(sys, at.saturating_sub(self.t0), running);
        if self.report_pid.is_some() {
            self.next_alive = Some(at + crate::report::ALIVE_EVERY);
        }
    }
}
