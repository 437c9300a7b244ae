//! A per-run SSH key and an SSH runner that works inside a namespace.

use crate::netns::Netns;
use crate::vm::Vm;
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// SSH access to one node as root, from inside `ns`.
pub struct Ssh<'a> {
    ns: &'a Netns,
    ip: String,
    key: &'a SshKey,
}

/// A fresh ed25519 keypair in a temporary directory (removed on drop).
pub struct SshKey {
    dir: PathBuf,
}

impl SshKey {
    pub fn generate() -> Result<SshKey> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "diskless-ssh-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "diskless-test", "-f"])
            .arg(dir.join("id"))
            .stdin(Stdio::null())
            .status()
            .context("running ssh-keygen (install openssh-client: `diskless-qemu setup`)")?;
        if !st.success() {
            bail!("ssh-keygen failed ({st})");
        }
        Ok(SshKey { dir })
    }

    pub fn private_key(&self) -> PathBuf {
        self.dir.join("id")
    }

    /// The public key line, for `authorized_keys`.
    pub fn public_key(&self) -> Result<String> {
        Ok(std::fs::read_to_string(self.dir.join("id.pub"))?
            .trim()
            .to_string())
    }
}

impl Drop for SshKey {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Output of a remote command.
#[derive(Debug, Clone)]
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl<'a> Ssh<'a> {
    pub fn new(ns: &'a Netns, ip: &str, key: &'a SshKey) -> Ssh<'a> {
        Ssh {
            ns,
            ip: ip.to_string(),
            key,
        }
    }

    /// Waits until the node's sshd sends its banner (`SSH-2.0-…`); returns the
    /// banner line. Polls every 200 ms from inside the namespace.
    pub fn wait_banner(&self, timeout: Duration) -> Result<String> {
        let addr: SocketAddr = format!("{}:22", self.ip)
            .parse()
            .with_context(|| format!("bad node address {:?}", self.ip))?;
        let deadline = Instant::now() + timeout;
        self.ns.run_in(move || -> Result<String> {
            loop {
                if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                    s.set_read_timeout(Some(Duration::from_secs(2)))?;
                    let mut buf = [0u8; 256];
                    let mut got = Vec::new();
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        got.extend_from_slice(&buf[..n]);
                        if got.contains(&b'\n') {
                            break;
                        }
                    }
                    let line = String::from_utf8_lossy(&got);
                    if line.starts_with("SSH-") {
                        return Ok(line.trim().to_string());
                    }
                }
                if Instant::now() >= deadline {
                    bail!("no SSH banner from {addr} within {timeout:?}");
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })?
    }

    /// Waits for the SSH banner of the node `vm` is booting; returns the time
    /// since QEMU started. Fails early, with the console's tail, if QEMU exits
    /// or the console shows the boot cannot succeed ([`Vm::fatal`]).
    pub fn wait_boot(&self, vm: &mut Vm, timeout: Duration) -> Result<Duration> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.wait_banner(Duration::from_secs(3)).is_ok() {
                return Ok(vm.elapsed());
            }
            if let Some(f) = vm.fatal() {
                bail!("boot failed ({f:?} on the console)\n{}", vm.diagnostics());
            }
            if !vm.is_running() {
                bail!(
                    "QEMU exited before the node's SSH banner\n{}",
                    vm.diagnostics()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "no SSH banner from {} within {timeout:?}\n{}",
                    self.ip,
                    vm.diagnostics()
                );
            }
        }
    }

    /// Runs `cmd` on the node (through the remote shell); fails if ssh itself
    /// cannot connect (status 255).
    pub fn run(&self, cmd: &str) -> Result<Output> {
        let out = self
            .ns
            .command("ssh")
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=10",
                "-i",
            ])
            .arg(self.key.private_key())
            .arg(format!("root@{}", self.ip))
            .arg(cmd)
            .stdin(Stdio::null())
            .output()
            .context("running ssh (install openssh-client: `diskless-qemu setup`)")?;
        let o = Output {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        if o.status == 255 {
            bail!("ssh root@{} failed: {}", self.ip, o.stderr.trim());
        }
        Ok(o)
    }

    /// Like [`Ssh::run`] but fails unless the command exits 0; returns stdout.
    pub fn check(&self, cmd: &str) -> Result<String> {
        let o = self.run(cmd)?;
        if o.status != 0 {
            bail!(
                "`{cmd}` on {} exited {}: {}",
                self.ip,
                o.status,
                o.stderr.trim()
            );
        }
        Ok(o.stdout)
    }
}
