//! RAII network namespaces: a bridge `br0` carrying the server address, one
//! tap per QEMU node, optional veths, and no route out of the namespace.
//!
//! Everything that sends packets in tests runs inside one of these. Dropping a
//! [`Netns`] (or Ctrl-C, see [`crate::cleanup`]) kills every process still in
//! it by PID and deletes it, which removes its interfaces too.

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use xshell::{cmd, Shell};

/// The server address on `br0`, as in the seed's `dhcpd.conf`.
pub const DEFAULT_SERVER_CIDR: &str = "172.16.1.1/24";
/// The bridge every tap and veth joins.
pub const BRIDGE: &str = "br0";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A network namespace owned by this process.
pub struct Netns {
    name: String,
    server_cidr: String,
    procs: Mutex<Vec<u32>>,
}

impl Netns {
    /// A namespace `dl-<hint>-<pid>-<n>` with `br0` at [`DEFAULT_SERVER_CIDR`].
    pub fn new(name_hint: &str) -> Result<Netns> {
        Netns::with_server(name_hint, DEFAULT_SERVER_CIDR)
    }

    /// Like [`Netns::new`] with another server address (CIDR) on the bridge.
    pub fn with_server(name_hint: &str, server_cidr: &str) -> Result<Netns> {
        let hint: String = name_hint
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(20)
            .collect();
        let name = format!(
            "dl-{hint}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let sh = Shell::new()?;
        cmd!(sh, "ip netns add {name}")
            .quiet()
            .run()
            .context("creating a network namespace needs root (run as root, or in CI)")?;
        crate::cleanup::register_netns(&name);
        let ns = Netns {
            name,
            server_cidr: server_cidr.to_string(),
            procs: Mutex::new(Vec::new()),
        };
        let n = &ns.name;
        cmd!(sh, "ip -n {n} link set lo up").quiet().run()?;
        // No STP and no forward delay: ports forward at once, so a node's first
        // DHCP packet is not eaten by the bridge learning phase.
        cmd!(
            sh,
            "ip -n {n} link add {BRIDGE} type bridge forward_delay 0 stp_state 0 mcast_snooping 0"
        )
        .quiet()
        .run()?;
        cmd!(sh, "ip -n {n} addr add {server_cidr} dev {BRIDGE}")
            .quiet()
            .run()?;
        cmd!(sh, "ip -n {n} link set {BRIDGE} up").quiet().run()?;
        Ok(ns)
    }

    /// The namespace's name (for `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server address on `br0` without the prefix length, e.g. `172.16.1.1`.
    pub fn server_ip(&self) -> &str {
        self.server_cidr
            .split('/')
            .next()
            .unwrap_or(&self.server_cidr)
    }

    /// The server address with its prefix length, e.g. `172.16.1.1/24`.
    pub fn server_cidr(&self) -> &str {
        &self.server_cidr
    }

    /// A tap `name` enslaved to `br0`, up, for a QEMU `-netdev tap,ifname=name`.
    pub fn add_tap(&self, name: &str) -> Result<()> {
        let sh = Shell::new()?;
        let n = &self.name;
        cmd!(sh, "ip -n {n} tuntap add dev {name} mode tap")
            .quiet()
            .run()?;
        cmd!(sh, "ip -n {n} link set {name} master {BRIDGE} up")
            .quiet()
            .run()?;
        Ok(())
    }

    /// A veth pair inside this namespace: `<name>-br` joins `br0`, `name` gets
    /// `cidr` (if any). For host-side clients (perfdhcp, tftp) on the segment.
    pub fn add_veth(&self, name: &str, cidr: Option<&str>) -> Result<()> {
        let sh = Shell::new()?;
        let n = &self.name;
        let br_end = format!("{name}-br");
        cmd!(sh, "ip -n {n} link add {name} type veth peer name {br_end}")
            .quiet()
            .run()?;
        cmd!(sh, "ip -n {n} link set {br_end} master {BRIDGE} up")
            .quiet()
            .run()?;
        if let Some(c) = cidr {
            cmd!(sh, "ip -n {n} addr add {c} dev {name}")
                .quiet()
                .run()?;
        }
        cmd!(sh, "ip -n {n} link set {name} up").quiet().run()?;
        Ok(())
    }

    /// A veth pair whose end `name` joins this namespace's `br0` and whose end
    /// `peer_name` is moved into `peer` (another namespace of ours) with
    /// `peer_cidr`. Neither end touches the host's namespace.
    pub fn add_veth_peer(
        &self,
        name: &str,
        peer: &Netns,
        peer_name: &str,
        peer_cidr: Option<&str>,
    ) -> Result<()> {
        let sh = Shell::new()?;
        let n = &self.name;
        let p = &peer.name;
        cmd!(
            sh,
            "ip -n {n} link add {name} type veth peer name {peer_name} netns {p}"
        )
        .quiet()
        .run()?;
        cmd!(sh, "ip -n {n} link set {name} master {BRIDGE} up")
            .quiet()
            .run()?;
        if let Some(c) = peer_cidr {
            cmd!(sh, "ip -n {p} addr add {c} dev {peer_name}")
                .quiet()
                .run()?;
        }
        cmd!(sh, "ip -n {p} link set {peer_name} up")
            .quiet()
            .run()?;
        Ok(())
    }

    /// Sets a link up or down (e.g. a node's tap, to cut its cable).
    pub fn link_set(&self, iface: &str, up: bool) -> Result<()> {
        let sh = Shell::new()?;
        let n = &self.name;
        let state = if up { "up" } else { "down" };
        cmd!(sh, "ip -n {n} link set {iface} {state}")
            .quiet()
            .run()?;
        Ok(())
    }

    /// A [`Command`] that runs `program` inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// Runs `argv` inside the namespace to completion; returns its stdout, or an
    /// error carrying its stderr.
    pub fn exec(&self, argv: &[&str]) -> Result<String> {
        let (prog, args) = argv.split_first().context("empty command")?;
        let out = self
            .command(prog)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {prog} in namespace {}", self.name))?;
        if !out.status.success() {
            bail!(
                "`{}` in namespace {} failed ({}): {}",
                argv.join(" "),
                self.name,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts `argv` inside the namespace in the background, stdout and stderr
    /// appended to `log` (or discarded). Killed when the [`Proc`] or the
    /// namespace is dropped.
    pub fn spawn(&self, argv: &[&str], log: Option<&Path>) -> Result<Proc> {
        let (prog, args) = argv.split_first().context("empty command")?;
        let mut c = self.command(prog);
        c.args(args).stdin(Stdio::null());
        match log {
            Some(p) => {
                let f = std::fs::File::options()
                    .create(true)
                    .append(true)
                    .open(p)
                    .with_context(|| format!("opening log {}", p.display()))?;
                c.stdout(f.try_clone()?).stderr(f);
            }
            None => {
                c.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        self.spawn_command(c)
            .with_context(|| format!("starting {prog} in namespace {}", self.name))
    }

    /// Starts a command built with [`Netns::command`]; killed like [`Netns::spawn`].
    pub fn spawn_command(&self, mut c: Command) -> Result<Proc> {
        let child = c.spawn()?;
        let pid = child.id();
        crate::cleanup::register_pid(pid);
        self.procs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(pid);
        Ok(Proc { child: Some(child) })
    }

    /// Runs `f` on a thread that has joined this namespace: sockets it creates
    /// live in the namespace (and stay there when handed to other threads).
    pub fn run_in<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::scope(|s| {
            s.spawn(move || -> Result<T> {
                let fd = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
                nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET)
                    .with_context(|| format!("entering namespace {path}"))?;
                Ok(f())
            })
            .join()
            .map_err(|_| anyhow::anyhow!("thread in namespace panicked"))?
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let pids = std::mem::take(&mut *self.procs.lock().unwrap_or_else(|e| e.into_inner()));
        for pid in pids {
            crate::cleanup::kill_pid(pid);
            crate::cleanup::unregister_pid(pid);
        }
        destroy(&self.name);
        crate::cleanup::unregister_netns(&self.name);
    }
}

/// Kills every process left in namespace `name` (by PID) and deletes it.
pub fn destroy(name: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() {
        for pid in String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
        {
            crate::cleanup::kill_pid(pid);
        }
    }
    let _ = Command::new("ip")
        .args(["netns", "del", name])
        .stderr(Stdio::null())
        .status();
}

/// A background process in a namespace; killed (by PID) on drop.
pub struct Proc {
    child: Option<Child>,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Takes the piped stdout (when the command was built with `Stdio::piped()`).
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.as_mut().and_then(|c| c.stdout.take())
    }

    /// `Some(status)` once the process has exited.
    pub fn try_wait(&mut self) -> Result<Option<std::process::ExitStatus>> {
        match self.child.as_mut() {
            Some(c) => Ok(c.try_wait()?),
            None => Ok(None),
        }
    }

    /// Kills it now (SIGTERM, then SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            crate::cleanup::kill_pid(c.id());
            let _ = c.kill();
            let _ = c.wait();
            crate::cleanup::unregister_pid(c.id());
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}
