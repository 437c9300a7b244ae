//! The real syscalls. Signals arrive through a signalfd (blocked everywhere
//! else), so the supervisor is a single poll loop with no handlers and no
//! threads.

use super::{Event, ExitStatus, MountArgs, Pid, RebootCmd, Signal, SpawnSpec, Sys};
use crate::initramfs;
use crate::supervisor::SPAWN_NICE;
use nix::sys::signal::{SigSet, Signal as NixSig};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::time::Duration;

mod mount;
mod net;
mod process;

pub struct LinuxSys {
    sigfd: Option<SignalFd>,
    /// Services whose exec may still fail: pid → the pipe it reports on.
    exec_reports: BTreeMap<Pid, process::Started>,
}

const HANDLED: [NixSig; 7] = [
    NixSig::SIGCHLD,
    NixSig::SIGTERM,
    NixSig::SIGINT,
    NixSig::SIGHUP,
    NixSig::SIGUSR1,
    NixSig::SIGUSR2,
    NixSig::SIGPWR,
];

pub(super) fn nix_err(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

fn to_nix(sig: Signal) -> NixSig {
    match sig {
        Signal::Term => NixSig::SIGTERM,
        Signal::Int => NixSig::SIGINT,
        Signal::Kill => NixSig::SIGKILL,
        Signal::Hup => NixSig::SIGHUP,
        Signal::Usr1 => NixSig::SIGUSR1,
        Signal::Usr2 => NixSig::SIGUSR2,
        Signal::Pwr => NixSig::SIGPWR,
        Signal::Chld => NixSig::SIGCHLD,
    }
}

fn from_signo(n: i32) -> Option<Signal> {
    Some(match NixSig::try_from(n).ok()? {
        NixSig::SIGTERM => Signal::Term,
        NixSig::SIGINT => Signal::Int,
        NixSig::SIGHUP => Signal::Hup,
        NixSig::SIGUSR1 => Signal::Usr1,
        NixSig::SIGUSR2 => Signal::Usr2,
        NixSig::SIGPWR => Signal::Pwr,
        NixSig::SIGCHLD => Signal::Chld,
        _ => return None,
    })
}

fn handled_set() -> SigSet {
    let mut set = SigSet::empty();
    for s in HANDLED {
        set.add(s);
    }
    set
}

impl LinuxSys {
    /// Plain syscalls only (for `--check` and tests).
    pub fn new() -> LinuxSys {
        LinuxSys {
            sigfd: None,
            exec_reports: BTreeMap::new(),
        }
    }

    /// Set up as PID 1: block the handled signals and read them from a
    /// signalfd, and make Ctrl-Alt-Del send SIGINT instead of rebooting.
    /// Failing here is logged and init falls back to polling waitpid.
    pub fn for_pid1() -> LinuxSys {
        let set = handled_set();
        let sigfd = match set.thread_block() {
            Ok(()) => SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
                .map_err(|e| crate::log::error(format_args!("signalfd: {e}; polling instead")))
                .ok(),
            Err(e) => {
                crate::log::error(format_args!("sigprocmask: {e}; polling instead"));
                None
            }
        };
        let _ = nix::sys::reboot::set_cad_enabled(false);
        LinuxSys {
            sigfd,
            exec_reports: BTreeMap::new(),
        }
    }

    fn reap(&mut self, out: &mut Vec<Event>) {
        loop {
            match waitpid(nix::unistd::Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => {
                    let pid = pid.as_raw();
                    let failed = self
                        .exec_reports
                        .remove(&pid)
                        .and_then(|started| started.exec_error());
                    out.push(Event::Exited {
                        pid,
                        status: failed.map_or(ExitStatus::Code(code), ExitStatus::ExecFailed),
                    })
                }
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    self.exec_reports.remove(&pid.as_raw());
                    out.push(Event::Exited {
                        pid: pid.as_raw(),
                        status: ExitStatus::Signaled(sig as i32),
                    })
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
}

impl Default for LinuxSys {
    fn default() -> Self {
        LinuxSys::new()
    }
}

fn clock(id: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out-pointer; the clocks used always exist.
    unsafe { libc::clock_gettime(id, &mut ts) };
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

impl Sys for LinuxSys {
    fn read_file(&self, path: &str) -> io::Result<String> {
        std::fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned())
    }
    fn exists(&self, path: &str) -> bool {
        std::fs::symlink_metadata(path).is_ok()
    }
    fn mkdir(&mut self, path: &str, mode: u32) -> io::Result<()> {
        std::fs::DirBuilder::new().mode(mode).create(path)?;
        // The umask must not narrow modes like 1777.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
    fn write_file(&mut self, path: &str, data: &[u8], mode: u32) -> io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(path)?;
        f.write_all(data)?;
        if !path.starts_with("/proc/") {
            f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        Ok(())
    }
    fn symlink(&mut self, target: &str, link: &str) -> io::Result<()> {
        std::os::unix::fs::symlink(target, link)
    }
    fn mknod_char(&mut self, path: &str, mode: u32, major: u32, minor: u32) -> io::Result<()> {
        let dev = nix::sys::stat::makedev(major.into(), minor.into());
        nix::sys::stat::mknod(
            path,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(mode),
            dev,
        )
        .map_err(nix_err)
    }
    fn mount(&mut self, a: &MountArgs) -> io::Result<()> {
        mount::do_mount(a)
    }
    fn umount(&mut self, target: &str, detach: bool) -> io::Result<()> {
        let flags = if detach {
            nix::mount::MntFlags::MNT_DETACH
        } else {
            nix::mount::MntFlags::empty()
        };
        nix::mount::umount2(target, flags).map_err(nix_err)
    }
    fn sync(&mut self) {
        nix::unistd::sync();
    }
    fn open_console(&mut self) {
        // fcntl(F_GETFD) fails with EBADF on a closed fd.
        // SAFETY: plain fd syscalls on small integers.
        unsafe {
            if libc::fcntl(2, libc::F_GETFD) != -1 {
                return;
            }
            let fd = libc::open(c"/dev/console".as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
            if fd < 0 {
                return;
            }
            for target in 0..3 {
                if libc::fcntl(target, libc::F_GETFD) == -1 {
                    libc::dup2(fd, target);
                }
            }
            if fd > 2 {
                libc::close(fd);
            }
        }
    }
    fn write_kmsg(&mut self, line: &str) -> io::Result<()> {
        use std::io::Write;
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/kmsg")?
            .write_all(line.as_bytes())
    }
    fn hostname(&self) -> io::Result<String> {
        nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .map_err(nix_err)
    }
    fn sethostname(&mut self, name: &str) -> io::Result<()> {
        nix::unistd::sethostname(name).map_err(nix_err)
    }
    fn link_up(&mut self, ifname: &str) -> io::Result<()> {
        net::link_up(ifname)
    }
    fn realtime(&self) -> Duration {
        clock(libc::CLOCK_REALTIME)
    }
    fn set_realtime(&mut self, t: Duration) -> io::Result<()> {
        let ts = nix::sys::time::TimeSpec::new(t.as_secs() as i64, t.subsec_nanos() as i64);
        nix::time::clock_settime(nix::time::ClockId::CLOCK_REALTIME, ts).map_err(nix_err)
    }
    fn monotonic(&self) -> Duration {
        clock(libc::CLOCK_MONOTONIC)
    }
    fn udp_exchange(
        &mut self,
        server: SocketAddr,
        request: &[u8],
        timeout: Duration,
    ) -> io::Result<Vec<u8>> {
        net::udp_exchange(server, request, timeout)
    }
    fn reboot(&mut self, cmd: RebootCmd) -> io::Result<()> {
        use nix::sys::reboot::RebootMode;
        let mode = match cmd {
            RebootCmd::Restart => RebootMode::RB_AUTOBOOT,
            RebootCmd::PowerOff => RebootMode::RB_POWER_OFF,
            RebootCmd::Halt => RebootMode::RB_HALT_SYSTEM,
        };
        match nix::sys::reboot::reboot(mode) {
            Ok(never) => match never {},
            Err(e) => Err(nix_err(e)),
        }
    }
    fn spawn(&mut self, spec: &SpawnSpec) -> io::Result<Pid> {
        let started = process::spawn(spec)?;
        let pid = started.pid;
        self.exec_reports.insert(started.pid, started);
        Ok(pid)
    }
    fn spawn_mount(&mut self, a: &MountArgs) -> io::Result<Pid> {
        process::fork_helper(|| {
            let _ = std::fs::create_dir_all(&a.target);
            match mount::do_mount(a) {
                Ok(()) => 0,
                Err(e) => e.raw_os_error().unwrap_or(libc::EIO),
            }
        })
    }
    fn spawn_clock(&mut self, job: &crate::clock::ClockJob) -> io::Result<Pid> {
        process::fork_helper(|| i32::from(!crate::clock::run(&mut LinuxSys::new(), job)))
    }
    fn spawn_report(&mut self, job: &crate::report::ReportJob) -> io::Result<Pid> {
        process::fork_helper(|| i32::from(!crate::report::send(&mut LinuxSys::new(), job)))
    }
    fn set_own_priority(&mut self, startup: bool) -> io::Result<()> {
        // Start-up: SCHED_FIFO, so no child runs while init has work (a
        // child's exec, once begun, would hold the only CPU of a small node
        // for milliseconds), with reset-on-fork so children start as
        // ordinary processes. Without realtime scheduling, nice -10.
        let (policy, prio, nice) = if startup {
            (libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, 1, SPAWN_NICE)
        } else {
            (libc::SCHED_OTHER, 0, 0)
        };
        let param = libc::sched_param {
            sched_priority: prio,
        };
        // SAFETY: plain syscalls on this process (init is single-threaded).
        unsafe {
            let rt = libc::sched_setscheduler(0, policy, &param);
            if libc::setpriority(libc::PRIO_PROCESS, 0, nice) != 0 || rt != 0 && !startup {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
    fn renice_group(&mut self, pgid: Pid, nice: i32) -> io::Result<()> {
        // SAFETY: plain syscall; PRIO_PGRP covers every thread of the group.
        if unsafe { libc::setpriority(libc::PRIO_PGRP, pgid as libc::id_t, nice) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
    fn kill(&mut self, pid: Pid, sig: Signal) -> io::Result<()> {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), to_nix(sig)).map_err(nix_err)
    }
    fn list_dir(&self, path: &str) -> io::Result<Vec<String>> {
        initramfs::syscalls::list_dir(path)
    }
    fn finit_module(&mut self, path: &str) -> io::Result<()> {
        initramfs::syscalls::finit_module(path)
    }
    fn dhcp_exchange(&mut self, ifname: &str, req: &[u8], t: Duration) -> io::Result<Vec<u8>> {
        initramfs::syscalls::dhcp_exchange(ifname, req, t)
    }
    fn set_ipv4(&mut self, ifname: &str, a: Ipv4Addr, m: Ipv4Addr) -> io::Result<()> {
        initramfs::syscalls::set_ipv4(ifname, a, m)
    }
    fn add_default_route(&mut self, gw: Ipv4Addr) -> io::Result<()> {
        initramfs::syscalls::add_default_route(gw)
    }
    fn remove_tree_same_fs(&mut self, path: &str) -> io::Result<()> {
        initramfs::syscalls::remove_tree_same_fs(path)
    }
    fn switch_root(&mut self, new_root: &str) -> io::Result<()> {
        initramfs::syscalls::switch_root(new_root)
    }
    fn exec(&mut self, argv: &[String]) -> io::Error {
        initramfs::syscalls::exec(argv)
    }
    fn wait_events(&mut self, timeout: Option<Duration>) -> Vec<Event> {
        let mut out = vec![];
        let ms: libc::c_int = match timeout {
            Some(t) => t.as_millis().min(60_000) as libc::c_int,
            None => -1,
        };
        match &mut self.sigfd {
            Some(fd) => {
                let mut pfd = libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                unsafe { libc::poll(&mut pfd, 1, ms) };
                while let Ok(Some(info)) = fd.read_signal() {
                    match from_signo(info.ssi_signo as i32) {
                        Some(Signal::Chld) | None => {}
                        Some(s) => out.push(Event::Signal(s)),
                    }
                }
            }
            None => {
                // No signalfd: poll for exits at 100 ms granularity.
                let t = timeout.unwrap_or(Duration::from_millis(100));
                std::thread::sleep(t.min(Duration::from_millis(100)));
            }
        }
        self.reap(&mut out);
        out
    }
}

#[cfg(test)]
mod tests;
