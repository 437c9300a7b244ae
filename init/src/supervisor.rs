//! PID 1's main loop: start services whose dependencies are met, run the
//! fstab mounts in forked helpers with retries, reap every child (services,
//! helpers and orphans alike), turn signals into a shutdown. One thread,
//! one `wait_events` per iteration, never returns.

use crate::clock::{self, ClockJob};
use crate::plan::{self, MountJobSpec, Plan, Step};
use crate::service::{Decision, Service, State};
use crate::shutdown::{Phase, Shutdown};
use crate::sys::{errno, Event, ExitStatus, Pid, RebootCmd, Signal, SpawnSpec, Sys};
use crate::{error, info, warn};
use std::time::Duration;

mod startup;

const MOUNT_RETRY_FIRST: Duration = Duration::from_secs(1);
const MOUNT_RETRY_MAX: Duration = Duration::from_secs(60);
/// How long after init starts services begin with their `startup_nice`;
/// then every such service is reniced to 0.
pub const STARTUP_WINDOW: Duration = Duration::from_secs(5);
/// init's niceness from its start until every service is spawned, when
/// realtime scheduling is not available.
pub const SPAWN_NICE: i32 = -10;
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountState {
    Pending { at: Duration },
    Running { pid: Pid },
    Mounted,
}

#[derive(Debug, Clone)]
pub struct MountJob {
    pub spec: MountJobSpec,
    pub state: MountState,
    pub attempts: u32,
}

/// The SNTP helper's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClockState {
    Pending(ClockJob),
    Running {
        pid: Pid,
    },
    /// Set, failed, or never asked for: services waiting for it may go.
    Done,
}

pub struct Supervisor {
    pub services: Vec<Service>,
    pub mounts: Vec<MountJob>,
    pub clock: ClockState,
    pub shutdown: Option<Shutdown>,
    stop_timeout: Duration,
    /// When init started (for the "all spawned" milestone).
    t0: Duration,
    all_spawned_logged: bool,
    /// End of the start-up window; `None` once the priorities were lifted.
    startup_until: Option<Duration>,
    /// Orphans reaped so far (not services, not mount helpers).
    pub orphans_reaped: u64,
    /// The status report helper while it runs (it logs its own outcome).
    report_pid: Option<Pid>,
    /// When the next "alive" report is due (set once services are up and a
    /// server is there to tell).
    next_alive: Option<Duration>,
    /// The plan's late steps, run once right after the first services were
    /// spawned (empty afterwards).
    late_steps: Vec<Step>,
}

fn strerror(code: i32) -> String {
    std::io::Error::from_raw_os_error(code).to_string()
}

impl Supervisor {
    pub fn new(plan: Plan, t0: Duration, now: Duration) -> Supervisor {
        Supervisor {
            services: plan.services.into_iter().map(Service::new).collect(),
            mounts: plan
                .mounts
                .into_iter()
                .map(|spec| MountJob {
                    spec,
                    state: MountState::Pending { at: now },
                    attempts: 0,
                })
                .collect(),
            clock: plan.clock.map_or(ClockState::Done, ClockState::Pending),
            shutdown: None,
            stop_timeout: plan.stop_timeout,
            t0,
            all_spawned_logged: false,
            startup_until: Some(now + STARTUP_WINDOW),
            orphans_reaped: 0,
            report_pid: None,
            next_alive: None,
            late_steps: plan.late_steps,
        }
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.spec.name == name)
    }

    /// One iteration: start what is due, wait for events, handle them.
    pub fn tick(&mut self, sys: &mut dyn Sys) {
        let now = sys.monotonic();
        if self.shutdown.is_none() {
            // Services first: the late steps and the helpers' forks (a fork
            // copies init's page tables) can wait.
            self.start_services(sys, now);
            let reached = self.milestone(sys);
            if reached.is_some() {
                // The milestone goes to the console now; the late steps'
                // lines are held again and follow in one write.
                crate::log::release();
                crate::log::hold();
            }
            // Still ahead of the services (init's start-up priority): the
            // mounts and files they do not need at exec but soon after.
            if !self.late_steps.is_empty() {
                plan::execute(sys, &std::mem::take(&mut self.late_steps));
            }
            if let Some(at) = reached {
                self.after_milestone(sys, at);
            }
            // After the late mounts, so an fstab mount under /tmp or /run
            // is not hidden by them.
            self.start_mounts(sys, now);
            self.start_clock(sys);
            self.end_startup(sys, now);
            self.send_alive(sys, now);
        }
        if let Some(sd) = &mut self.shutdown {
            let live: Vec<Pid> = self.services.iter().filter_map(Service::pid).collect();
            sd.advance(sys, &live);
        }
        let timeout = self.next_deadline().map(|d| d.saturating_sub(now));
        // The early boot's console lines go out before init first waits.
        crate::log::release();
        for ev in sys.wait_events(timeout) {
            self.handle(sys, ev);
        }
    }

    fn next_deadline(&self) -> Option<Duration> {
        let mut d: Vec<Duration> = vec![];
        if let Some(sd) = &self.shutdown {
            d.extend(sd.deadline());
        } else {
            if self.services.iter().any(|s| s.spec.startup_nice != 0) {
                d.extend(self.startup_until);
            }
            for s in &self.services {
                if let State::Backoff { until } = s.state {
                    d.push(until);
                }
            }
            for m in &self.mounts {
                if let MountState::Pending { at } = m.state {
                    d.push(at);
                }
            }
            d.extend(self.next_alive);
        }
        d.into_iter().min()
    }

    fn start_clock(&mut self, sys: &mut dyn Sys) {
        let ClockState::Pending(job) = &self.clock else {
            return;
        };
        self.clock = match sys.spawn_clock(job) {
            Ok(pid) => ClockState::Running { pid },
            Err(e) => {
                warn!("clock: could not fork the SNTP helper ({e}); asking inline");
                clock::run(sys, job);
                ClockState::Done
            }
        };
    }

    fn start_mounts(&mut self, sys: &mut dyn Sys, now: Duration) {
        for m in &mut self.mounts {
            match m.state {
                MountState::Pending { at } if at <= now => {}
                _ => continue,
            }
            m.attempts += 1;
            match sys.spawn_mount(&m.spec.args) {
                Ok(pid) => m.state = MountState::Running { pid },
                Err(e) => {
                    warn!("mount {}: could not fork: {e}", m.spec.args.target);
                    m.state = MountState::Pending {
                        at: now + retry_delay(m.attempts),
                    };
                }
            }
        }
    }

    fn dep_ready(&self, dep: &str) -> bool {
        if dep == clock::DEPENDENCY {
            return self.clock == ClockState::Done;
        }
        if dep.starts_with('/') {
            return self
                .mounts
                .iter()
                .filter(|m| m.spec.args.target == dep)
                .all(|m| m.state == MountState::Mounted);
        }
        self.service(dep)
            .map(Service::satisfies_dependents)
            .unwrap_or(true)
    }

    fn start_services(&mut self, sys: &mut dyn Sys, now: Duration) {
        // Repeat: a skipped oneshot can release its dependents at once.
        loop {
            let mut progressed = false;
            for i in 0..self.services.len() {
                let due = match self.services[i].state {
                    State::Waiting => true,
                    State::Backoff { until } => until <= now,
                    _ => false,
                };
                if !due
                    || !self.services[i]
                        .spec
                        .after
                        .iter()
                        .all(|d| self.dep_ready(d))
                {
                    continue;
                }
                for d in &self.services[i].spec.after {
                    if let Some(State::GaveUp(_)) = self.service(d).map(|s| &s.state) {
                        warn!(
                            "{}: starting although {d} gave up",
                            self.services[i].spec.name
                        );
                    }
                }
                progressed = true;
                self.start_one(sys, i, now);
            }
            if !progressed {
                break;
            }
        }
    }

    fn start_one(&mut self, sys: &mut dyn Sys, i: usize, now: Duration) {
        let svc = &mut self.services[i];
        let name = svc.spec.name.clone();
        if let Some(p) = &svc.spec.unless_exists {
            if sys.exists(p) {
                info!("{name}: skipped, {p} exists");
                svc.state = State::Done(None);
                return;
            }
        }
        for d in &svc.spec.dirs {
            if let Err(e) = sys.mkdir(d, 0o755) {
                if errno(&e) != libc::EEXIST {
                    warn!("{name}: mkdir {d}: {e}");
                }
            }
        }
        let mut env = vec![
            ("PATH".to_string(), PATH.to_string()),
            ("HOME".into(), "/".into()),
        ];
        env.extend(svc.spec.env.iter().cloned());
        let starting_up = self.startup_until.is_some_and(|u| now < u);
        let spec = SpawnSpec {
            argv: svc.spec.argv.clone(),
            env,
            nice: if starting_up {
                svc.spec.startup_nice
            } else {
                0
            },
        };
        match sys.spawn(&spec) {
            Ok(pid) => {
                svc.started(pid, now);
                let nice = match spec.nice {
                    0 => String::new(),
                    n => format!(", nice {n} during start-up"),
                };
                info!("started {name} (pid {pid}{nice}): {}", spec.argv.join(" "));
            }
            Err(e) => {
                let d = svc.spawn_failed(now, &e);
                report(&name, &d, &format!("could not start: {e}"));
            }
        }
    }

    fn handle(&mut self, sys: &mut dyn Sys, ev: Event) {
        let now = sys.monotonic();
        match ev {
            Event::Signal(sig) => {
                let cmd = match sig {
                    Signal::Term | Signal::Int => RebootCmd::Restart,
                    Signal::Usr1 => RebootCmd::Halt,
                    Signal::Usr2 | Signal::Pwr => RebootCmd::PowerOff,
                    Signal::Hup | Signal::Chld | Signal::Kill => {
                        info!("ignoring SIG{sig:?}");
                        return;
                    }
                };
                if self.shutdown.is_none() {
                    let mut pids: Vec<Pid> =
                        self.services.iter().filter_map(Service::pid).collect();
                    pids.extend(self.mounts.iter().filter_map(|m| match m.state {
                        MountState::Running { pid } => Some(pid),
                        _ => None,
                    }));
                    if let ClockState::Running { pid } = self.clock {
                        pids.push(pid);
                    }
                    self.shutdown = Some(Shutdown::begin(sys, cmd, &pids, self.stop_timeout));
                } else if let Some(Shutdown {
                    phase: Phase::Done, ..
                }) = &self.shutdown
                {
                    error!("shutdown already failed; not retrying");
                }
            }
            Event::Exited { pid, status } => self.exited(pid, status, now),
        }
    }

    fn exited(&mut self, pid: Pid, status: ExitStatus, now: Duration) {
        let stopping = self.shutdown.is_some();
        if let Some(svc) = self.services.iter_mut().find(|s| s.pid() == Some(pid)) {
            let name = svc.spec.name.clone();
            if stopping {
                svc.state = State::Stopped;
                info!("{name} (pid {pid}) stopped: {status}");
                return;
            }
            if let ExitStatus::ExecFailed(code) = status {
                // The same policy as a spawn that fails on the spot.
                let e = std::io::Error::from_raw_os_error(code);
                let d = svc.spawn_failed(now, &e);
                report(&name, &d, &format!("could not start: {e}"));
                return;
            }
            let d = svc.exited(status, now);
            report(&name, &d, &format!("pid {pid} {status}"));
            return;
        }
        if self.report_pid == Some(pid) {
            self.report_pid = None;
            return;
        }
        if self.clock == (ClockState::Running { pid }) {
            // The helper logged the outcome; only a crash is news.
            if let ExitStatus::Signaled(_) = status {
                if !stopping {
                    warn!("clock: the SNTP helper (pid {pid}) {status}");
                }
            }
            self.clock = ClockState::Done;
            return;
        }
        if let Some(m) = self
            .mounts
            .iter_mut()
            .find(|m| m.state == MountState::Running { pid })
        {
            let target = &m.spec.args.target;
            match status {
                ExitStatus::Code(0) => {
                    m.state = MountState::Mounted;
                    info!(
                        "mounted {target} (fstab line {}, attempt {})",
                        m.spec.line, m.attempts
                    );
                }
                _ if stopping => m.state = MountState::Mounted,
                st => {
                    let why = match st {
                        ExitStatus::Code(c) => strerror(c),
                        s => s.to_string(),
                    };
                    let delay = retry_delay(m.attempts);
                    warn!(
                        "mount {} on {target} failed: {why}; retry {} in {} s",
                        m.spec.args.source,
                        m.attempts + 1,
                        delay.as_secs()
                    );
                    m.state = MountState::Pending { at: now + delay };
                }
            }
            return;
        }
        self.orphans_reaped += 1;
    }
}

fn retry_delay(attempts: u32) -> Duration {
    MOUNT_RETRY_FIRST
        .saturating_mul(1 << attempts.saturating_sub(1).min(8))
        .min(MOUNT_RETRY_MAX)
}

fn report(name: &str, d: &Decision, what: &str) {
    match d {
        Decision::Restart { after } => {
            warn!("{name}: {what}; restarting in {} ms", after.as_millis())
        }
        Decision::Finished => info!("{name}: {what}; done"),
        Decision::GiveUp(why) => error!("{name}: {what}; {why}"),
    }
}
