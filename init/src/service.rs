//! One supervised service: its resolved spec and its lifecycle as a small
//! state machine (time passed in, no syscalls) that decides restarts with
//! exponential backoff and gives up after too many fast failures.

use crate::sys::{ExitStatus, Pid};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    Always,
    OnFailure,
    Never,
}

/// Restart timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    /// A run shorter than this counts as a fast failure.
    pub fast_window: Duration,
    /// Consecutive fast failures before giving up.
    pub max_fast_failures: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            fast_window: Duration::from_secs(10),
            max_fast_failures: 5,
        }
    }
}

/// A service as init runs it (defaults merged with init.toml).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    pub name: String,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Service names or mount points (absolute paths) to wait for.
    pub after: Vec<String>,
    /// Runs to completion; dependents wait for it to finish.
    pub oneshot: bool,
    pub restart: Restart,
    /// Directories to create (mode 0755) before starting.
    pub dirs: Vec<String>,
    /// Skip the service when this path exists (e.g. host keys present).
    pub unless_exists: Option<String>,
    pub backoff: Backoff,
    /// Niceness (0–19) of a start during the boot's first
    /// [`crate::supervisor::STARTUP_WINDOW`], lifted to 0 when it ends: a
    /// daemon nobody waits for yields the CPU to the ones that make the
    /// node reachable (systemd's StartupCPUWeight, in one number).
    pub startup_nice: i32,
}

impl ServiceSpec {
    pub fn new(name: &str, argv: &[&str]) -> ServiceSpec {
        ServiceSpec {
            name: name.into(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            env: vec![],
            after: vec![],
            oneshot: false,
            restart: Restart::Always,
            dirs: vec![],
            unless_exists: None,
            backoff: Backoff::default(),
            startup_nice: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Not started yet (dependencies pending).
    Waiting,
    Running {
        pid: Pid,
        since: Duration,
    },
    /// Will be restarted at `until`.
    Backoff {
        until: Duration,
    },
    /// Finished and not to be restarted (oneshot done, restart policy says no).
    Done(Option<ExitStatus>),
    /// Stopped trying; the reason is logged.
    GaveUp(String),
    /// Stopped by the shutdown.
    Stopped,
}

/// A service and where it is in its life.
#[derive(Debug, Clone)]
pub struct Service {
    pub spec: ServiceSpec,
    pub state: State,
    /// Consecutive fast failures so far.
    pub fast_failures: u32,
    pub starts: u32,
}

/// What the supervisor should do after an exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Restart { after: Duration },
    Finished,
    GiveUp(String),
}

impl Service {
    pub fn new(spec: ServiceSpec) -> Service {
        Service {
            spec,
            state: State::Waiting,
            fast_failures: 0,
            starts: 0,
        }
    }

    pub fn pid(&self) -> Option<Pid> {
        match self.state {
            State::Running { pid, .. } => Some(pid),
            _ => None,
        }
    }

    /// Whether dependents may start: long-running services once spawned,
    /// oneshots once finished, and anything that will never run again (so a
    /// broken dependency cannot hold the node hostage; it is logged).
    pub fn satisfies_dependents(&self) -> bool {
        match &self.state {
            State::Waiting | State::Backoff { .. } => false,
            State::Running { .. } => !self.spec.oneshot,
            State::Done(_) | State::GaveUp(_) | State::Stopped => true,
        }
    }

    pub fn started(&mut self, pid: Pid, now: Duration) {
        self.starts += 1;
        self.state = State::Running { pid, since: now };
    }

    /// The process could not be started at all.
    pub fn spawn_failed(&mut self, now: Duration, err: &std::io::Error) -> Decision {
        if err.kind() == std::io::ErrorKind::NotFound {
            let d = Decision::GiveUp(format!(
                "{} does not exist (fix `command` in /etc/diskless/init.toml or install it)",
                self.spec.argv.first().map(String::as_str).unwrap_or("")
            ));
            self.apply(&d, now);
            return d;
        }
        self.failed_fast(now, format!("could not start: {err}"))
    }

    /// The process exited with `status` at `now`.
    pub fn exited(&mut self, status: ExitStatus, now: Duration) -> Decision {
        let since = match self.state {
            State::Running { since, .. } => since,
            _ => now,
        };
        let d = match (self.spec.restart, status.success()) {
            _ if self.spec.oneshot && status.success() => Decision::Finished,
            (Restart::Never, _) | (Restart::OnFailure, true) => Decision::Finished,
            _ => {
                if now.saturating_sub(since) < self.spec.backoff.fast_window {
                    return self.failed_fast(now, format!("{status}"));
                }
                self.fast_failures = 0;
                Decision::Restart {
                    after: self.spec.backoff.initial,
                }
            }
        };
        self.state = State::Done(Some(status));
        self.apply(&d, now);
        d
    }

    fn failed_fast(&mut self, now: Duration, why: String) -> Decision {
        self.fast_failures += 1;
        let b = self.spec.backoff;
        let d = if self.fast_failures >= b.max_fast_failures {
            Decision::GiveUp(format!(
                "gave up after {} fast failures (last: {why}); the node stays up without it",
                self.fast_failures
            ))
        } else {
            let factor = 1u32 << (self.fast_failures - 1).min(16);
            Decision::Restart {
                after: b.initial.saturating_mul(factor).min(b.max),
            }
        };
        self.apply(&d, now);
        d
    }

    fn apply(&mut self, d: &Decision, now: Duration) {
        match d {
            Decision::Restart { after } => {
                self.state = State::Backoff {
                    until: now + *after,
                }
            }
            Decision::GiveUp(why) => self.state = State::GaveUp(why.clone()),
            Decision::Finished => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn fast_failures_back_off_then_give_up() {
        let mut svc = Service::new(ServiceSpec::new("x", &["/bin/x"]));
        let mut now = s(0);
        let mut delays = vec![];
        loop {
            svc.started(1, now);
            now += s(100);
            match svc.exited(ExitStatus::Code(1), now) {
                Decision::Restart { after } => {
                    delays.push(after.as_millis());
                    now += after;
                }
                Decision::GiveUp(why) => {
                    assert!(why.contains("5 fast failures"), "{why}");
                    break;
                }
                Decision::Finished => panic!("finished"),
            }
        }
        assert_eq!(delays, vec![500, 1000, 2000, 4000]);
        assert!(matches!(svc.state, State::GaveUp(_)));
        assert!(svc.satisfies_dependents());
    }

    #[test]
    fn long_run_resets_counter() {
        let mut svc = Service::new(ServiceSpec::new("x", &["/bin/x"]));
        svc.started(1, s(0));
        svc.exited(ExitStatus::Code(1), s(100));
        assert_eq!(svc.fast_failures, 1);
        svc.started(2, s(1000));
        let d = svc.exited(ExitStatus::Signaled(9), s(60_000));
        assert_eq!(d, Decision::Restart { after: s(500) });
        assert_eq!(svc.fast_failures, 0);
    }

    #[test]
    fn oneshot_and_policies() {
        let mut spec = ServiceSpec::new("k", &["/bin/k"]);
        spec.oneshot = true;
        let mut svc = Service::new(spec);
        svc.started(1, s(0));
        assert!(!svc.satisfies_dependents());
        assert_eq!(svc.exited(ExitStatus::Code(0), s(5)), Decision::Finished);
        assert!(svc.satisfies_dependents());

        let mut spec = ServiceSpec::new("n", &["/bin/n"]);
        spec.restart = Restart::OnFailure;
        let mut svc = Service::new(spec);
        svc.started(1, s(0));
        assert_eq!(svc.exited(ExitStatus::Code(0), s(5)), Decision::Finished);
    }

    #[test]
    fn missing_binary_gives_up_at_once() {
        let mut svc = Service::new(ServiceSpec::new("x", &["/nope"]));
        let e = std::io::Error::from_raw_os_error(libc::ENOENT);
        match svc.spawn_failed(s(0), &e) {
            Decision::GiveUp(why) => assert!(why.contains("/nope does not exist")),
            d => panic!("{d:?}"),
        }
    }
}
