//! The real syscalls. Signals arrive through a signalfd (blocked everywhere
//! else), so the supervisor is a single poll loop with no handlers and no
//! threads.

use super::{Event, ExitStatus, MountArgs, Pid, RebootCmd, Signal, SpawnSpec, Sys};
use crate::initramfs;
use nix::sys::signal::{SigSet, Signal as NixSig};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use std::ffi::CString;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::time::Duration;

pub struct LinuxSys {
    sigfd: Option<SignalFd>,
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

fn nix_err(e: nix::Error) -> io::Error {
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
        LinuxSys { sigfd: None }
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
        LinuxSys { sigfd }
    }

    fn reap(out: &mut Vec<Event>) {
        loop {
            match waitpid(nix::unistd::Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => out.push(Event::Exited {
                    pid: pid.as_raw(),
                    status: ExitStatus::Code(code),
                }),
                Ok(WaitStatus::Signaled(pid, sig, _)) => out.push(Event::Exited {
                    pid: pid.as_raw(),
                    status: ExitStatus::Signaled(sig as i32),
                }),
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
        do_mount(a)
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
    fn hostname(&self) -> io::Result<String> {
        nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .map_err(nix_err)
    }
    fn sethostname(&mut self, name: &str) -> io::Result<()> {
        nix::unistd::sethostname(name).map_err(nix_err)
    }
    fn link_up(&mut self, ifname: &str) -> io::Result<()> {
        link_up(ifname)
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
        let bind: SocketAddr = if server.is_ipv4() {
            "0.0.0.0:0".parse().expect("literal")
        } else {
            "[::]:0".parse().expect("literal")
        };
        let sock = UdpSocket::bind(bind)?;
        sock.connect(server)?;
        sock.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        sock.send(request)?;
        let mut buf = vec![0u8; 512];
        let n = sock.recv(&mut buf)?;
        buf.truncate(n);
        Ok(buf)
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
        spawn(spec)
    }
    fn spawn_mount(&mut self, a: &MountArgs) -> io::Result<Pid> {
        fork_helper(|| {
            let _ = std::fs::create_dir_all(&a.target);
            match do_mount(a) {
                Ok(()) => 0,
                Err(e) => e.raw_os_error().unwrap_or(libc::EIO),
            }
        })
    }
    fn spawn_clock(&mut self, job: &crate::clock::ClockJob) -> io::Result<Pid> {
        fork_helper(|| i32::from(!crate::clock::run(&mut LinuxSys::new(), job)))
    }
    fn spawn_report(&mut self, job: &crate::report::ReportJob) -> io::Result<Pid> {
        fork_helper(|| i32::from(!crate::report::send(&mut LinuxSys::new(), job)))
    }
    fn set_own_nice(&mut self, nice: i32) -> io::Result<()> {
        // SAFETY: plain syscall on this thread (init is single-threaded).
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) } != 0 {
            return Err(io::Error::last_os_error());
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
        LinuxSys::reap(&mut out);
        out
    }
}

fn do_mount(a: &MountArgs) -> io::Result<()> {
    let flags = nix::mount::MsFlags::from_bits_truncate(a.flags.0 as _);
    let data = if a.data.is_empty() {
        None
    } else {
        Some(a.data.as_str())
    };
    nix::mount::mount(
        Some(a.source.as_str()),
        a.target.as_str(),
        Some(a.fstype.as_str()),
        flags,
        data,
    )
    .map_err(nix_err)
}

/// `SIOCSIFFLAGS` |= IFF_UP on an AF_INET datagram socket.
fn link_up(ifname: &str) -> io::Result<()> {
    if ifname.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    // SAFETY: ifreq is plain data, zeroed then filled; the fd is closed below.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in ifname.bytes().enumerate() {
            req.ifr_name[i] = b as libc::c_char;
        }
        let mut res = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req);
        if res == 0 {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            res = libc::ioctl(fd, libc::SIOCSIFFLAGS, &req);
        }
        let err = io::Error::last_os_error();
        libc::close(fd);
        if res != 0 {
            return Err(err);
        }
    }
    Ok(())
}

fn cstring(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in command"))
}

/// `posix_spawn` (glibc: `clone(CLONE_VM|CLONE_VFORK)` + `execve`): no
/// copy of init's page tables and no copy-on-write faults afterwards, which
/// under emulation costs several ms per service; an exec failure (missing
/// program, not executable) comes back as the error. The child gets a new
/// session, an empty signal mask (init blocks the signals it reads from its
/// signalfd), default SIGPIPE (Rust ignores it), stdin from `/dev/null` and
/// `/` as working directory.
fn spawn(spec: &SpawnSpec) -> io::Result<Pid> {
    let prog = spec
        .argv
        .first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty command"))?;
    let path = cstring(prog)?;
    let argv: Vec<CString> = spec
        .argv
        .iter()
        .map(|a| cstring(a))
        .collect::<io::Result<_>>()?;
    let envp: Vec<CString> = spec
        .env
        .iter()
        .map(|(k, v)| cstring(&format!("{k}={v}")))
        .collect::<io::Result<_>>()?;
    let mut argv_p: Vec<*mut libc::c_char> = argv.iter().map(|a| a.as_ptr() as *mut _).collect();
    argv_p.push(std::ptr::null_mut());
    let mut envp_p: Vec<*mut libc::c_char> = envp.iter().map(|a| a.as_ptr() as *mut _).collect();
    envp_p.push(std::ptr::null_mut());
    let check = |rc: libc::c_int| match rc {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    };
    // SAFETY: the attribute and file-action objects are initialised before
    // use and destroyed on every path; all pointers outlive the call.
    unsafe {
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        let mut fa: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        check(libc::posix_spawnattr_init(&mut attr))?;
        if let Err(e) = check(libc::posix_spawn_file_actions_init(&mut fa)) {
            libc::posix_spawnattr_destroy(&mut attr);
            return Err(e);
        }
        let result = (|| -> io::Result<Pid> {
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            let mut def: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut def);
            libc::sigaddset(&mut def, libc::SIGPIPE);
            check(libc::posix_spawnattr_setsigmask(&mut attr, &empty))?;
            check(libc::posix_spawnattr_setsigdefault(&mut attr, &def))?;
            let flags = libc::POSIX_SPAWN_SETSID
                | libc::POSIX_SPAWN_SETSIGMASK as libc::c_short
                | libc::POSIX_SPAWN_SETSIGDEF as libc::c_short;
            check(libc::posix_spawnattr_setflags(&mut attr, flags))?;
            check(libc::posix_spawn_file_actions_addopen(
                &mut fa,
                0,
                c"/dev/null".as_ptr(),
                libc::O_RDONLY,
                0,
            ))?;
            check(libc::posix_spawn_file_actions_addchdir_np(
                &mut fa,
                c"/".as_ptr(),
            ))?;
            let mut pid: libc::pid_t = 0;
            check(libc::posix_spawn(
                &mut pid,
                path.as_ptr(),
                &fa,
                &attr,
                argv_p.as_ptr(),
                envp_p.as_ptr(),
            ))?;
            // posix_spawn has no niceness attribute. The child ran until its
            // exec at init's own priority (so its exec is not starved while
            // init waits for it) and is set now, microseconds into its
            // program.
            if niceness() != spec.nice {
                libc::setpriority(libc::PRIO_PROCESS, pid as libc::id_t, spec.nice);
            }
            Ok(pid)
        })();
        libc::posix_spawn_file_actions_destroy(&mut fa);
        libc::posix_spawnattr_destroy(&mut attr);
        result
    }
}

/// This thread's niceness.
fn niceness() -> i32 {
    // SAFETY: plain syscall; getpriority can return -1 legitimately, and
    // init only ever uses 0..=19, so a failure reads as 0.
    let n = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    n.clamp(-20, 19)
}

/// Forks a child of PID 1 that runs `work` with signals unblocked and exits
/// with its code; the parent gets the child's pid. The mount, clock and
/// report helpers run this way so nothing they wait on can block PID 1.
fn fork_helper(work: impl FnOnce() -> i32) -> io::Result<Pid> {
    // Held console lines would be written twice (the child inherits them).
    crate::log::release();
    // SAFETY: init is single-threaded; the child's Rust code only allocates,
    // makes syscalls and logs, and leaves with _exit, never returning into
    // code that could unwind.
    match unsafe { nix::unistd::fork() }.map_err(nix_err)? {
        nix::unistd::ForkResult::Parent { child } => Ok(child.as_raw()),
        nix::unistd::ForkResult::Child => {
            let _ = SigSet::empty().thread_set_mask();
            // Not init's raised start-up priority.
            // SAFETY: plain syscall on this process.
            unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 0) };
            let code = work();
            // SAFETY: terminates the child without running destructors.
            unsafe { libc::_exit(code) }
        }
    }
}

#[cfg(test)]
mod tests;
