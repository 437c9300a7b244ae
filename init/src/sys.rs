//! Every side effect init has goes through [`Sys`]: the boot plan, the
//! supervisor and the shutdown are tested against the recording
//! [`fake::FakeSys`]; [`linux::LinuxSys`] does the real syscalls.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

pub mod fake;
pub mod linux;

pub type Pid = i32;

/// The signals init sends or receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    Term,
    Int,
    Kill,
    Hup,
    Usr1,
    Usr2,
    Pwr,
    Chld,
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    /// Killed by this signal number.
    Signaled(i32),
    /// Never ran: its exec failed with this errno ([`Sys::spawn`] returns
    /// before the exec, so a missing program is reported this way).
    ExecFailed(i32),
}

impl ExitStatus {
    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Code(c) => write!(f, "exit code {c}"),
            ExitStatus::Signaled(s) => write!(f, "killed by signal {s}"),
            ExitStatus::ExecFailed(e) => write!(
                f,
                "could not be executed: {}",
                io::Error::from_raw_os_error(*e)
            ),
        }
    }
}

/// What [`Sys::wait_events`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Signal(Signal),
    Exited { pid: Pid, status: ExitStatus },
}

/// `mount(2)` flags (the kernel's `MS_*` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MountFlags(pub u64);

impl MountFlags {
    pub const RDONLY: u64 = 1;
    pub const NOSUID: u64 = 2;
    pub const NODEV: u64 = 4;
    pub const NOEXEC: u64 = 8;
    pub const SYNCHRONOUS: u64 = 16;
    pub const REMOUNT: u64 = 32;
    pub const MOVE: u64 = 8192;
    pub const DIRSYNC: u64 = 128;
    pub const NOATIME: u64 = 1024;
    pub const NODIRATIME: u64 = 2048;
    pub const RELATIME: u64 = 1 << 21;
    pub const STRICTATIME: u64 = 1 << 24;
    pub const LAZYTIME: u64 = 1 << 25;

    pub fn has(self, bit: u64) -> bool {
        self.0 & bit == bit
    }
}

/// Arguments of one `mount(2)` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountArgs {
    pub source: String,
    pub target: String,
    pub fstype: String,
    pub flags: MountFlags,
    /// Text options passed to the filesystem (`size=10M`, `addr=…,vers=3`).
    pub data: String,
}

impl MountArgs {
    pub fn new(source: &str, target: &str, fstype: &str, flags: u64, data: &str) -> MountArgs {
        MountArgs {
            source: source.into(),
            target: target.into(),
            fstype: fstype.into(),
            flags: MountFlags(flags),
            data: data.into(),
        }
    }
}

/// A program to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnSpec {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Niceness of the program (set right after its exec).
    pub nice: i32,
}

/// What `reboot(2)` should do at the end of a shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebootCmd {
    Restart,
    PowerOff,
    Halt,
}

impl RebootCmd {
    pub fn verb(self) -> &'static str {
        match self {
            RebootCmd::Restart => "reboot",
            RebootCmd::PowerOff => "power off",
            RebootCmd::Halt => "halt",
        }
    }
}

/// The syscall surface of init.
pub trait Sys {
    // ---- files
    fn read_file(&self, path: &str) -> io::Result<String>;
    fn exists(&self, path: &str) -> bool;
    /// Creates one directory (not its parents).
    fn mkdir(&mut self, path: &str, mode: u32) -> io::Result<()>;
    /// Creates or truncates `path` with `data`, then sets `mode`.
    fn write_file(&mut self, path: &str, data: &[u8], mode: u32) -> io::Result<()>;
    fn symlink(&mut self, target: &str, link: &str) -> io::Result<()>;
    fn mknod_char(&mut self, path: &str, mode: u32, major: u32, minor: u32) -> io::Result<()>;
    fn mount(&mut self, args: &MountArgs) -> io::Result<()>;
    fn umount(&mut self, target: &str, detach: bool) -> io::Result<()>;
    fn sync(&mut self);
    /// Makes fds 0–2 point at `/dev/console` if they are not open.
    fn open_console(&mut self);
    /// Writes one line to the kernel log (`/dev/kmsg`), where the kernel
    /// stamps it with its own (printk) clock.
    fn write_kmsg(&mut self, line: &str) -> io::Result<()> {
        let _ = line;
        Err(unsupported())
    }

    // ---- system
    fn hostname(&self) -> io::Result<String>;
    fn sethostname(&mut self, name: &str) -> io::Result<()>;
    fn link_up(&mut self, ifname: &str) -> io::Result<()>;
    /// Wall clock, as time since the Unix epoch.
    fn realtime(&self) -> Duration;
    fn set_realtime(&mut self, since_epoch: Duration) -> io::Result<()>;
    /// Time since boot (`CLOCK_MONOTONIC`).
    fn monotonic(&self) -> Duration;
    /// Sends one UDP datagram to `server` and returns the first answer that
    /// arrives within `timeout`.
    fn udp_exchange(
        &mut self,
        server: SocketAddr,
        request: &[u8],
        timeout: Duration,
    ) -> io::Result<Vec<u8>>;
    fn reboot(&mut self, cmd: RebootCmd) -> io::Result<()>;

    // ---- processes
    /// Starts a program and returns once the child exists, without waiting
    /// for its exec: an exec failure (missing program, not executable)
    /// arrives later as the child's [`ExitStatus::ExecFailed`]. Errors here
    /// are those found before the child exists (empty command, fork failed).
    fn spawn(&mut self, spec: &SpawnSpec) -> io::Result<Pid>;
    /// Forks a child that calls `mount(2)` (creating the mount point first)
    /// and exits with 0 or the errno, so a hanging NFS server blocks only it.
    fn spawn_mount(&mut self, args: &MountArgs) -> io::Result<Pid>;
    /// Forks a child that runs [`crate::clock::run`] and exits with 0 when
    /// the clock was set, 1 when not.
    fn spawn_clock(&mut self, job: &crate::clock::ClockJob) -> io::Result<Pid>;
    /// Forks a child that runs [`crate::report::send`] and exits with 0 when
    /// the server acknowledged the report, 1 when not.
    fn spawn_report(&mut self, job: &crate::report::ReportJob) -> io::Result<Pid>;
    /// `true`: init runs ahead of everything it starts until they are all
    /// spawned (children, started at normal priority, never preempt it);
    /// `false`: back to normal.
    fn set_own_priority(&mut self, startup: bool) -> io::Result<()>;
    /// Sets the niceness of every process and thread in process group `pgid`
    /// (a service is its own group: it starts with setsid).
    fn renice_group(&mut self, pgid: Pid, nice: i32) -> io::Result<()>;
    /// `pid` -1 means every process but init.
    fn kill(&mut self, pid: Pid, sig: Signal) -> io::Result<()>;
    /// Blocks until a signal arrives, children exit, or `timeout` passes;
    /// reaps every exited child.
    fn wait_events(&mut self, timeout: Option<Duration>) -> Vec<Event>;

    // ---- initramfs stage (issue 9). Defaults say "unsupported" so a Sys
    // that never runs the stage need not implement them.
    /// Entry names of a directory (not `.`/`..`), sorted.
    fn list_dir(&self, path: &str) -> io::Result<Vec<String>> {
        let _ = path;
        Err(unsupported())
    }
    /// `finit_module(2)` of a `.ko` file with no parameters.
    fn finit_module(&mut self, path: &str) -> io::Result<()> {
        let _ = path;
        Err(unsupported())
    }
    /// Broadcasts one DHCP packet from port 68 out of `ifname` (which has no
    /// address yet) and returns the first datagram to port 68 within `timeout`.
    fn dhcp_exchange(
        &mut self,
        ifname: &str,
        request: &[u8],
        timeout: Duration,
    ) -> io::Result<Vec<u8>> {
        let _ = (ifname, request, timeout);
        Err(unsupported())
    }
    /// Sets the interface's IPv4 address and netmask.
    fn set_ipv4(
        &mut self,
        ifname: &str,
        addr: std::net::Ipv4Addr,
        mask: std::net::Ipv4Addr,
    ) -> io::Result<()> {
        let _ = (ifname, addr, mask);
        Err(unsupported())
    }
    /// Adds the default route via `gw`.
    fn add_default_route(&mut self, gw: std::net::Ipv4Addr) -> io::Result<()> {
        let _ = gw;
        Err(unsupported())
    }
    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d)
    }
    /// Deletes everything under `path` that is on the same filesystem as
    /// `path`, without crossing into mount points.
    fn remove_tree_same_fs(&mut self, path: &str) -> io::Result<()> {
        let _ = path;
        Err(unsupported())
    }
    /// chdir(new_root), mount --move . /, chroot ., chdir /.
    fn switch_root(&mut self, new_root: &str) -> io::Result<()> {
        let _ = new_root;
        Err(unsupported())
    }
    /// Replaces this process; returns only on failure.
    fn exec(&mut self, argv: &[String]) -> io::Error {
        let _ = argv;
        unsupported()
    }
}

fn unsupported() -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, "not available on this Sys")
}

/// `errno` of an I/O error, 0 if it has none.
pub fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}
