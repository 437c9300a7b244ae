//! A recording, scriptable [`Sys`] for unit tests: a tiny in-memory
//! filesystem, a simulated process table with scripted lifetimes, and a
//! virtual clock that jumps to the next event instead of sleeping.

use super::{Event, ExitStatus, MountArgs, Pid, RebootCmd, Signal, SpawnSpec, Sys};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// One recorded side effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Mkdir(String),
    WriteFile(String, String),
    Symlink(String, String),
    Mknod(String, u32, u32),
    Mount(MountArgs),
    Umount(String),
    Sync,
    OpenConsole,
    Kmsg(String),
    SetHostname(String),
    LinkUp(String),
    SetRealtime(Duration),
    Udp(SocketAddr),
    Reboot(RebootCmd),
    Spawn(Vec<String>),
    SpawnMount(String),
    SpawnClock(std::net::IpAddr),
    SpawnReport(std::net::SocketAddr),
    Kill(Pid, Signal),
    Renice(Pid, i32),
    OwnPriority(bool),
    FinitModule(String),
    Dhcp(String),
    SetIpv4(String, Ipv4Addr, Ipv4Addr),
    DefaultRoute(Ipv4Addr),
    Sleep(Duration),
    RemoveTree(String),
    SwitchRoot(String),
    Exec(Vec<String>),
}

/// Answers a UDP request (given the fake wall clock), or stays silent.
pub type UdpReply = Box<dyn Fn(&[u8], Duration) -> Option<Vec<u8>>>;

/// How a spawned program behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Runs until signalled.
    Daemon,
    /// Exits with this code after this long.
    ExitAfter(Duration, i32),
    /// Its exec fails with this errno.
    ExecFails(i32),
}

#[derive(Default)]
pub struct FakeSys {
    pub calls: Vec<Call>,
    /// Paths read or probed (`read_file`, `exists`), in order.
    pub looked_at: std::cell::RefCell<Vec<String>>,
    pub files: BTreeMap<String, String>,
    pub dirs: BTreeSet<String>,
    /// Paths whose mount(2) fails with this errno.
    pub mount_errno: BTreeMap<String, i32>,
    /// argv[0] → behaviour; unknown existing programs are daemons.
    pub behaviour: BTreeMap<String, Behaviour>,
    /// Mount-job target → how many attempts fail (with EHOSTUNREACH) first.
    pub mount_job_failures: BTreeMap<String, u32>,
    /// Reply for `udp_exchange`: a function of the request.
    pub udp_reply: Option<UdpReply>,
    /// Reply for `dhcp_exchange`, like `udp_reply`.
    pub dhcp_reply: Option<UdpReply>,
    /// Module file → errno its `finit_module` fails with.
    pub module_errno: BTreeMap<String, i32>,
    /// (argv0, niceness) of every program spawned with a non-zero nice.
    pub niced: Vec<(String, i32)>,
    /// How long the clock helper takes (it then reports success).
    pub clock_helper_time: Duration,
    /// Signals delivered when the virtual clock reaches the given time.
    pub signals: Vec<(Duration, Signal)>,
    pub hostname: String,
    pub mono: Duration,
    pub real: Duration,
    next_pid: Pid,
    /// pid → (argv0, exit time and status if scheduled).
    pub procs: BTreeMap<Pid, (String, Option<(Duration, ExitStatus)>)>,
    pending: VecDeque<Event>,
    /// `spawn` of a missing program fails on the spot (posix_spawn style)
    /// instead of the child exiting with [`ExitStatus::ExecFailed`].
    pub exec_errors_at_spawn: bool,
}

impl FakeSys {
    pub fn new() -> FakeSys {
        FakeSys {
            next_pid: 100,
            hostname: "(none)".into(),
            mono: Duration::from_millis(500),
            clock_helper_time: Duration::from_millis(20),
            real: Duration::from_secs(978_307_200), // 2001-01-01
            ..Default::default()
        }
    }

    pub fn with_file(mut self, path: &str, text: &str) -> FakeSys {
        self.files.insert(path.into(), text.into());
        self
    }

    pub fn with_dir(mut self, path: &str) -> FakeSys {
        self.dirs.insert(path.into());
        self
    }

    /// Every spawned argv in order.
    pub fn spawned(&self) -> Vec<Vec<String>> {
        self.calls
            .iter()
            .filter_map(|c| match c {
                Call::Spawn(a) => Some(a.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn running(&self) -> usize {
        self.procs.len()
    }

    fn schedule_exit(&mut self, pid: Pid, at: Duration, st: ExitStatus) {
        if let Some(p) = self.procs.get_mut(&pid) {
            match p.1 {
                Some((t, _)) if t <= at => {}
                _ => p.1 = Some((at, st)),
            }
        }
    }

    fn new_pid(&mut self) -> Pid {
        self.next_pid += 1;
        self.next_pid
    }
}

fn enoent() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOENT)
}

impl Sys for FakeSys {
    fn read_file(&self, path: &str) -> io::Result<String> {
        self.looked_at.borrow_mut().push(path.into());
        self.files.get(path).cloned().ok_or_else(enoent)
    }
    fn exists(&self, path: &str) -> bool {
        self.looked_at.borrow_mut().push(path.into());
        self.files.contains_key(path) || self.dirs.contains(path)
    }
    fn mkdir(&mut self, path: &str, _mode: u32) -> io::Result<()> {
        self.calls.push(Call::Mkdir(path.into()));
        if self.exists(path) {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        self.dirs.insert(path.into());
        Ok(())
    }
    fn write_file(&mut self, path: &str, data: &[u8], _mode: u32) -> io::Result<()> {
        let text = String::from_utf8_lossy(data).into_owned();
        self.calls.push(Call::WriteFile(path.into(), text.clone()));
        self.files.insert(path.into(), text);
        Ok(())
    }
    fn symlink(&mut self, target: &str, link: &str) -> io::Result<()> {
        self.calls.push(Call::Symlink(target.into(), link.into()));
        if self.exists(link) {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        self.files.insert(link.into(), format!("-> {target}"));
        Ok(())
    }
    fn mknod_char(&mut self, path: &str, _mode: u32, major: u32, minor: u32) -> io::Result<()> {
        self.calls.push(Call::Mknod(path.into(), major, minor));
        self.files.insert(path.into(), String::new());
        Ok(())
    }
    fn mount(&mut self, args: &MountArgs) -> io::Result<()> {
        self.calls.push(Call::Mount(args.clone()));
        match self.mount_errno.get(&args.target) {
            Some(&e) => Err(io::Error::from_raw_os_error(e)),
            None => Ok(()),
        }
    }
    fn umount(&mut self, target: &str, _detach: bool) -> io::Result<()> {
        self.calls.push(Call::Umount(target.into()));
        Ok(())
    }
    fn sync(&mut self) {
        self.calls.push(Call::Sync);
    }
    fn open_console(&mut self) {
        self.calls.push(Call::OpenConsole);
    }
    fn hostname(&self) -> io::Result<String> {
        Ok(self.hostname.clone())
    }
    fn sethostname(&mut self, name: &str) -> io::Result<()> {
        self.calls.push(Call::SetHostname(name.into()));
        self.hostname = name.into();
        Ok(())
    }
    fn link_up(&mut self, ifname: &str) -> io::Result<()> {
        self.calls.push(Call::LinkUp(ifname.into()));
        Ok(())
    }
    fn realtime(&self) -> Duration {
        self.real
    }
    fn set_realtime(&mut self, t: Duration) -> io::Result<()> {
        self.calls.push(Call::SetRealtime(t));
        self.real = t;
        Ok(())
    }
    fn monotonic(&self) -> Duration {
        self.mono
    }
    fn udp_exchange(
        &mut self,
        server: SocketAddr,
        request: &[u8],
        timeout: Duration,
    ) -> io::Result<Vec<u8>> {
        self.calls.push(Call::Udp(server));
        let reply = self.udp_reply.as_ref().and_then(|f| f(request, self.real));
        match reply {
            Some(r) => {
                // 2 ms round trip.
                self.mono += Duration::from_millis(2);
                self.real += Duration::from_millis(2);
                Ok(r)
            }
            None => {
                self.mono += timeout;
                self.real += timeout;
                Err(io::Error::from_raw_os_error(libc::EAGAIN))
            }
        }
    }
    fn write_kmsg(&mut self, line: &str) -> io::Result<()> {
        self.calls.push(Call::Kmsg(line.into()));
        Ok(())
    }
    fn reboot(&mut self, cmd: RebootCmd) -> io::Result<()> {
        self.calls.push(Call::Reboot(cmd));
        Ok(())
    }
    fn spawn(&mut self, spec: &SpawnSpec) -> io::Result<Pid> {
        let argv0 = spec.argv.first().cloned().unwrap_or_default();
        self.calls.push(Call::Spawn(spec.argv.clone()));
        if spec.nice != 0 {
            self.niced.push((argv0.clone(), spec.nice));
        }
        if !self.exists(&argv0) && self.exec_errors_at_spawn {
            return Err(enoent());
        }
        let pid = self.new_pid();
        self.procs.insert(pid, (argv0.clone(), None));
        if !self.exists(&argv0) {
            // As on Linux: the child exists, then its exec fails.
            self.schedule_exit(pid, self.mono, ExitStatus::ExecFailed(libc::ENOENT));
        } else {
            match self.behaviour.get(&argv0).copied() {
                Some(Behaviour::ExitAfter(d, code)) => {
                    self.schedule_exit(pid, self.mono + d, ExitStatus::Code(code))
                }
                Some(Behaviour::ExecFails(errno)) => {
                    self.schedule_exit(pid, self.mono, ExitStatus::ExecFailed(errno))
                }
                Some(Behaviour::Daemon) | None => {}
            }
        }
        Ok(pid)
    }
    fn spawn_mount(&mut self, args: &MountArgs) -> io::Result<Pid> {
        self.calls.push(Call::SpawnMount(args.target.clone()));
        let pid = self.new_pid();
        let left = self
            .mount_job_failures
            .entry(args.target.clone())
            .or_default();
        let code = if *left > 0 {
            *left -= 1;
            libc::EHOSTUNREACH
        } else {
            0
        };
        self.procs
            .insert(pid, (format!("mount {}", args.target), None));
        self.schedule_exit(
            pid,
            self.mono + Duration::from_millis(5),
            ExitStatus::Code(code),
        );
        Ok(pid)
    }
    fn spawn_clock(&mut self, job: &crate::clock::ClockJob) -> io::Result<Pid> {
        self.calls.push(Call::SpawnClock(job.server));
        let pid = self.new_pid();
        self.procs.insert(pid, ("sntp".into(), None));
        let took = self.clock_helper_time;
        self.schedule_exit(pid, self.mono + took, ExitStatus::Code(0));
        Ok(pid)
    }
    fn spawn_report(&mut self, job: &crate::report::ReportJob) -> io::Result<Pid> {
        self.calls.push(Call::SpawnReport(job.to));
        let pid = self.new_pid();
        self.procs.insert(pid, ("report".into(), None));
        self.schedule_exit(pid, self.mono, ExitStatus::Code(0));
        Ok(pid)
    }
    fn set_own_priority(&mut self, startup: bool) -> io::Result<()> {
        self.calls.push(Call::OwnPriority(startup));
        Ok(())
    }
    fn renice_group(&mut self, pgid: Pid, nice: i32) -> io::Result<()> {
        self.calls.push(Call::Renice(pgid, nice));
        Ok(())
    }
    fn kill(&mut self, pid: Pid, sig: Signal) -> io::Result<()> {
        self.calls.push(Call::Kill(pid, sig));
        let num = match sig {
            Signal::Kill => 9,
            Signal::Term => 15,
            _ => return Ok(()),
        };
        let pids: Vec<Pid> = if pid == -1 {
            self.procs.keys().copied().collect()
        } else if self.procs.contains_key(&pid) {
            vec![pid]
        } else {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        };
        for p in pids {
            self.schedule_exit(
                p,
                self.mono + Duration::from_millis(10),
                ExitStatus::Signaled(num),
            );
        }
        Ok(())
    }
    fn list_dir(&self, path: &str) -> io::Result<Vec<String>> {
        if !self.dirs.contains(path) {
            return Err(enoent());
        }
        let prefix = format!("{}/", path.trim_end_matches('/'));
        let mut out: Vec<String> = self
            .files
            .keys()
            .chain(self.dirs.iter())
            .filter_map(|p| p.strip_prefix(&prefix))
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            .map(str::to_string)
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }
    fn finit_module(&mut self, path: &str) -> io::Result<()> {
        self.calls.push(Call::FinitModule(path.into()));
        if let Some(&e) = self.module_errno.get(path) {
            return Err(io::Error::from_raw_os_error(e));
        }
        if !self.files.contains_key(path) {
            return Err(enoent());
        }
        Ok(())
    }
    fn dhcp_exchange(
        &mut self,
        ifname: &str,
        request: &[u8],
        timeout: Duration,
    ) -> io::Result<Vec<u8>> {
        self.calls.push(Call::Dhcp(ifname.into()));
        match self.dhcp_reply.as_ref().and_then(|f| f(request, self.real)) {
            Some(r) => {
                self.mono += Duration::from_millis(2);
                Ok(r)
            }
            None => {
                self.mono += timeout;
                Err(io::Error::from_raw_os_error(libc::EAGAIN))
            }
        }
    }
    fn set_ipv4(&mut self, ifname: &str, addr: Ipv4Addr, mask: Ipv4Addr) -> io::Result<()> {
        self.calls.push(Call::SetIpv4(ifname.into(), addr, mask));
        Ok(())
    }
    fn add_default_route(&mut self, gw: Ipv4Addr) -> io::Result<()> {
        self.calls.push(Call::DefaultRoute(gw));
        Ok(())
    }
    fn sleep(&mut self, d: Duration) {
        self.calls.push(Call::Sleep(d));
        self.mono += d;
        self.real += d;
    }
    fn remove_tree_same_fs(&mut self, path: &str) -> io::Result<()> {
        self.calls.push(Call::RemoveTree(path.into()));
        Ok(())
    }
    fn switch_root(&mut self, new_root: &str) -> io::Result<()> {
        self.calls.push(Call::SwitchRoot(new_root.into()));
        Ok(())
    }
    fn exec(&mut self, argv: &[String]) -> io::Error {
        self.calls.push(Call::Exec(argv.to_vec()));
        io::Error::other("exec in FakeSys")
    }
    fn wait_events(&mut self, timeout: Option<Duration>) -> Vec<Event> {
        if let Some(e) = self.pending.pop_front() {
            return vec![e];
        }
        let next_exit = self.procs.values().filter_map(|p| p.1.map(|x| x.0)).min();
        let next_sig = self.signals.iter().map(|s| s.0).min();
        let next = [next_exit, next_sig].into_iter().flatten().min();
        let limit = timeout.map(|t| self.mono + t);
        let wake = match (next, limit) {
            (Some(n), Some(l)) if n > l => {
                self.real += l.saturating_sub(self.mono);
                self.mono = l;
                return vec![];
            }
            (Some(n), _) => n.max(self.mono),
            (None, Some(l)) => {
                self.real += l.saturating_sub(self.mono);
                self.mono = l;
                return vec![];
            }
            (None, None) => return vec![],
        };
        self.real += wake - self.mono;
        self.mono = wake;
        let mut out = vec![];
        let due: Vec<Pid> = self
            .procs
            .iter()
            .filter(|(_, p)| matches!(p.1, Some((t, _)) if t <= wake))
            .map(|(&pid, _)| pid)
            .collect();
        for pid in due {
            if let Some((_, Some((_, status)))) = self.procs.remove(&pid) {
                out.push(Event::Exited { pid, status });
            }
        }
        let (now, later): (Vec<_>, Vec<_>) = self.signals.iter().partition(|s| s.0 <= wake);
        self.signals = later;
        out.extend(now.into_iter().map(|s| Event::Signal(s.1)));
        out
    }
}
