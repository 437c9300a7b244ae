//! Ordered shutdown: services get SIGTERM, then SIGKILL after the stop
//! timeout; every other process gets TERM then KILL; then sync, unmount in
//! reverse mount order, remount `/` read-only and `reboot(2)`.

use crate::mount_table::{self, Mounted};
use crate::sys::{MountArgs, MountFlags, Pid, RebootCmd, Signal, Sys};
use crate::{error, info, warn};
use std::time::Duration;

/// Grace time for processes that are not services, between TERM and KILL.
const DRAIN: Duration = Duration::from_millis(500);
/// Time to reap what SIGKILL hit before unmounting.
const SETTLE: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Services got SIGTERM; waiting for them or the deadline.
    Stopping { deadline: Duration },
    /// Everything else got SIGTERM.
    Draining { deadline: Duration },
    /// Everything got SIGKILL; unmount and reboot at the deadline.
    Final { deadline: Duration },
    /// reboot(2) returned (it failed): keep reaping.
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shutdown {
    pub cmd: RebootCmd,
    pub phase: Phase,
    started: Duration,
}

/// Mount points to unmount, in order: the reverse of mount order, `/` excluded.
pub fn unmount_order(mounts: &[Mounted]) -> Vec<Mounted> {
    mounts
        .iter()
        .rev()
        .filter(|m| m.target != "/" && m.fstype != "rootfs")
        .cloned()
        .collect()
}

impl Shutdown {
    /// Starts the shutdown: SIGTERM to every service process (dependents first).
    pub fn begin(
        sys: &mut dyn Sys,
        cmd: RebootCmd,
        service_pids: &[Pid],
        stop_timeout: Duration,
    ) -> Shutdown {
        let now = sys.monotonic();
        info!(
            "shutdown ({}): stopping {} service process(es)",
            cmd.verb(),
            service_pids.len()
        );
        for &pid in service_pids.iter().rev() {
            let _ = sys.kill(pid, Signal::Term);
        }
        Shutdown {
            cmd,
            phase: Phase::Stopping {
                deadline: now + stop_timeout,
            },
            started: now,
        }
    }

    pub fn deadline(&self) -> Option<Duration> {
        match self.phase {
            Phase::Stopping { deadline }
            | Phase::Draining { deadline }
            | Phase::Final { deadline } => Some(deadline),
            Phase::Done => None,
        }
    }

    /// Moves on when the phase's condition holds; `live` are the service
    /// processes still running.
    pub fn advance(&mut self, sys: &mut dyn Sys, live: &[Pid]) {
        let now = sys.monotonic();
        match self.phase {
            Phase::Stopping { deadline } if live.is_empty() || now >= deadline => {
                for &pid in live {
                    warn!("pid {pid} ignored SIGTERM; sending SIGKILL");
                    let _ = sys.kill(pid, Signal::Kill);
                }
                let _ = sys.kill(-1, Signal::Term);
                self.phase = Phase::Draining {
                    deadline: now + DRAIN,
                };
            }
            Phase::Draining { deadline } if now >= deadline => {
                let _ = sys.kill(-1, Signal::Kill);
                self.phase = Phase::Final {
                    deadline: now + SETTLE,
                };
            }
            Phase::Final { deadline } if now >= deadline => {
                self.finish(sys);
                self.phase = Phase::Done;
            }
            _ => {}
        }
    }

    fn finish(&mut self, sys: &mut dyn Sys) {
        info!("shutdown: every process stopped; syncing");
        sys.sync();
        let mounts = mount_table::parse_mounts(&sys.read_file("/proc/mounts").unwrap_or_default());
        let (mut done, mut busy) = (vec![], vec![]);
        for m in unmount_order(&mounts) {
            // A dead NFS server would hang a plain umount: detach those.
            // So is what init's own console fds keep busy (/dev).
            let nfs = m.fstype.starts_with("nfs");
            if !nfs && sys.umount(&m.target, false).is_ok() {
                done.push(m.target);
            } else {
                match sys.umount(&m.target, true) {
                    Ok(()) => done.push(format!("{} (detached)", m.target)),
                    Err(e) => busy.push(format!("{} ({e})", m.target)),
                }
            }
        }
        info!("shutdown: unmounted {}", list(&done));
        if !busy.is_empty() {
            warn!("could not unmount: {}", busy.join(", "));
        }
        let ro = MountArgs {
            source: String::new(),
            target: "/".into(),
            fstype: String::new(),
            flags: MountFlags(MountFlags::REMOUNT | MountFlags::RDONLY),
            data: String::new(),
        };
        match sys.mount(&ro) {
            Ok(()) => info!("shutdown: / remounted read-only"),
            Err(e) => warn!("remounting / read-only: {e}"),
        }
        sys.sync();
        let took = sys.monotonic().saturating_sub(self.started);
        info!(
            "shutdown took {} ms; {} now",
            took.as_millis(),
            self.cmd.verb()
        );
        if let Err(e) = sys.reboot(self.cmd) {
            error!("reboot(2) failed: {e}; staying up and reaping");
        }
    }
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "nothing".into()
    } else {
        v.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_order_without_root() {
        let m = mount_table::parse_mounts(
            "/dev/root / ext4 rw 0 0\nproc /proc proc rw 0 0\ndevtmpfs /dev devtmpfs rw 0 0\n\
             devpts /dev/pts devpts rw 0 0\n10.0.0.1:/c /culc nfs rw 0 0\n",
        );
        let order: Vec<String> = unmount_order(&m).into_iter().map(|m| m.target).collect();
        assert_eq!(order, ["/culc", "/dev/pts", "/dev", "/proc"]);
    }
}
