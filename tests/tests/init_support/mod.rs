//! Shared by the `init_*` QEMU tests: the static diskless-init binary, a
//! node root with it installed as `/sbin/init`'s replacement, and a tiny
//! SNTP responder on the server address inside the test's namespace.

#![allow(dead_code)]

use anyhow::{Context, Result};
use diskless_common::sntp::{Repr, Timestamp};
use diskless_qemu::netns::Netns;
use diskless_qemu::rootfs;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use diskless_qemu::is_root;

/// The static `diskless-init` (profile `init`, `+crt-static`), built by
/// the test bed into its own target dir (so the running `cargo test` holds
/// no lock it needs): see [`diskless_qemu::stack::init_binary`].
pub fn init_binary() -> Result<PathBuf> {
    diskless_qemu::stack::init_binary()
}

/// Installs `init` as `/sbin/diskless-init` and the `reboot`/`poweroff`/
/// `halt` links to it (replacing sysvinit's).
pub fn install_init(root: &Path, init: &Path) -> Result<()> {
    let sbin = root.join("sbin");
    let dest = sbin.join("diskless-init");
    std::fs::copy(init, &dest).with_context(|| format!("copying {}", init.display()))?;
    for name in ["reboot", "poweroff", "halt"] {
        let l = sbin.join(name);
        let _ = std::fs::remove_file(&l);
        std::os::unix::fs::symlink("diskless-init", &l)?;
    }
    Ok(())
}

/// A root image at `work/root.ext4`: the test bed's Debian root with
/// diskless-init, the SSH key, `fstab`, and `init.toml` when given.
pub fn root_image(
    work: &Path,
    pubkey: &str,
    fstab: &str,
    init_toml: Option<&str>,
) -> Result<PathBuf> {
    let root = work.join("root");
    let _ = std::fs::remove_dir_all(&root);
    rootfs::unpack(&root)?;
    rootfs::inject_ssh_key(&root, pubkey)?;
    // ip= names the node; a different /etc/hostname shows which one wins.
    rootfs::set_hostname(&root, "from-etc-hostname")?;
    std::fs::write(root.join("etc/fstab"), fstab)?;
    if let Some(t) = init_toml {
        std::fs::create_dir_all(root.join("etc/diskless"))?;
        std::fs::write(root.join("etc/diskless/init.toml"), t)?;
    }
    install_init(&root, &init_binary()?)?;
    let img = work.join("root.ext4");
    rootfs::ext4_image(&root, &img)?;
    std::fs::remove_dir_all(&root)?;
    Ok(img)
}

/// Answers SNTP requests on `server_ip:123` inside the namespace with the
/// host's clock, until dropped.
pub struct SntpResponder {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<f64>>>,
}

impl SntpResponder {
    pub fn start(ns: &Netns, server_ip: &str) -> Result<SntpResponder> {
        let addr = format!("{server_ip}:123");
        let sock = ns.run_in(move || UdpSocket::bind(&addr))??;
        sock.set_read_timeout(Some(Duration::from_millis(200)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut answered = vec![];
            let mut buf = [0u8; 512];
            while !stop2.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let rx = now();
                let Ok(req) = Repr::parse_bytes(&buf[..n]) else {
                    continue;
                };
                let tx = host_time();
                let reply = Repr::server_reply(&req, 1, *b"LOCL", rx, now());
                if sock.send_to(&reply.to_bytes(), from).is_ok() {
                    answered.push(tx);
                }
            }
            answered
        });
        Ok(SntpResponder {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops and returns the host times (s) at which it answered.
    pub fn stop(mut self) -> Vec<f64> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for SntpResponder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn now() -> Timestamp {
    Timestamp::from_unix(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

/// Host wall clock in seconds.
pub fn host_time() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}
