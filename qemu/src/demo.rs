//! `diskless-qemu demo`: set up what is missing, start `diskless-server` in a
//! private namespace with a two-node inventory, PXE-boot one node (BIOS iPXE
//! → DHCP → TFTP pxelinux → kernel → NFS root → diskless-init), print its
//! boot timeline as it happens, then open a shell on it over SSH (or run
//! `--exec CMD` there and exit with its status).

use crate::netns::Netns;
use crate::ssh::{Ssh, SshKey};
use crate::stack::{self, BootPath, OurNode, OurOptions, OurStack};
use crate::vm::{Vm, VmConfig};
use anyhow::{bail, Context, Result};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

fn nodes() -> Vec<OurNode> {
    vec![
        OurNode {
            hostname: "cartman".into(),
            mac: "52:54:00:70:91:b9".into(),
            ip: "172.16.1.10".into(),
        },
        OurNode {
            hostname: "kenny".into(),
            mac: "52:54:00:12:34:56".into(),
            ip: "172.16.1.11".into(),
        },
    ]
}

/// Runs the demo; returns the exit code (the remote command's with `--exec`).
pub fn run(exec: Option<String>) -> Result<i32> {
    if !crate::is_root() {
        bail!("the demo needs root (network namespaces, taps, apt-get): run it with sudo");
    }
    eprintln!("==> diskless demo: checking packages, kernel and node root (cached after the first run; the first run installs Debian packages, builds a kernel and a Debian root: ~15 min on 2 cores)");
    crate::setup::run()?;
    eprintln!("==> building our binaries if needed (the first build takes a few minutes)");
    let init_bin = stack::init_binary()?;
    let server_bin = stack::server_binary()?;
    let kernel = crate::kernel::custom_kernel()?;
    eprintln!("    kernel: {}", kernel.bzimage.display());
    let key = SshKey::generate()?;
    eprintln!(
        "==> creating network namespace with bridge br0 (server 172.16.1.1/24, no route out)"
    );
    let ns = Netns::new("demo")?;
    ns.add_tap("tap0")?;
    let nodes = nodes();
    eprintln!("==> unpacking the node root, installing diskless-init as /sbin/diskless-init, writing the inventory (cartman, kenny), starting diskless-server serve");
    let ours = OurStack::start_with_cmdline(
        &ns,
        &OurOptions {
            kernel: kernel.bzimage.clone(),
            nodes: nodes.clone(),
            ssh_pubkey: key.public_key()?,
            path: BootPath::Pxelinux,
            uefi_loader: None,
            init_bin,
            server_bin,
        },
        stack::FAST_CMDLINE,
    )?;
    eprintln!(
        "    inventory: {}\n    server log: {}",
        ours.dir().join("inventory.toml").display(),
        ours.dir().join("server-1.log").display()
    );
    let node = &nodes[0];
    eprintln!(
        "==> powering on {} ({}, BIOS iPXE on virtio-net, clock deliberately at 2001-01-01; TCG, so ~10 s)",
        node.hostname, node.mac
    );
    let mut cfg = VmConfig::pxe("demo-node", "tap0", &node.mac);
    // QEMU's e1000 model stops receiving for 1 s after every receive-control
    // write (iPXE's DHCP and the kernel's NFS mount each pay it): virtio-net,
    // as in `bench boot`.
    cfg.nics[0].model = crate::vm::NicModel::VirtioNet;
    cfg.rtc_base = Some("2001-01-01".into());
    let mut vm = Vm::start(&cfg, &ns)?;
    eprintln!("    console log: {}", vm.serial_log().display());
    let ssh = Ssh::new(&ns, &node.ip, &key);
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut shown = 0;
    let banner_at = loop {
        let t = vm.timeline();
        for e in t.events.iter().skip(shown) {
            eprintln!("    {:>7.2} s  {}", e.at.as_secs_f64(), e.name);
        }
        shown = shown.max(t.events.len());
        if ssh.wait_banner(Duration::from_millis(300)).is_ok() {
            break vm.elapsed();
        }
        if let Some(f) = vm.fatal() {
            bail!("boot failed ({f:?} on the console)\n{}", vm.diagnostics());
        }
        if !vm.is_running() || Instant::now() >= deadline {
            bail!(
                "no SSH banner from {}\n{}\nserver log:\n{}",
                node.ip,
                vm.diagnostics(),
                ours.server_log()
            );
        }
    };
    eprintln!("    {:>7.2} s  SSH banner", banner_at.as_secs_f64());
    let mut c = ns.command("ssh");
    c.args([
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-i",
    ])
    .arg(key.private_key());
    match &exec {
        Some(cmd) => {
            eprintln!("==> running on {}: {cmd}", node.hostname);
            c.arg("-o")
                .arg("BatchMode=yes")
                .arg(format!("root@{}", node.ip))
                .arg(cmd)
                .stdin(std::process::Stdio::null());
        }
        None if std::io::stdin().is_terminal() => {
            eprintln!(
                "==> shell on {} (root@{}); type `exit` to stop the node and the server",
                node.hostname, node.ip
            );
            c.arg("-t").arg(format!("root@{}", node.ip));
        }
        None => {
            // No terminal (a pipe, CI): the remote shell reads its commands
            // from our stdin, so `echo uptime | diskless-qemu demo` works.
            eprintln!(
                "==> stdin is not a terminal: running the commands it carries on {} (root@{}), then stopping; use --exec CMD for one command",
                node.hostname, node.ip
            );
            c.arg("-T").arg(format!("root@{}", node.ip));
        }
    }
    let st = c
        .status()
        .context("running ssh (install openssh-client: `diskless-qemu setup`)")?;
    eprintln!("==> stopping the node and diskless-server, removing the namespace");
    drop(vm);
    drop(ours);
    Ok(st.code().unwrap_or(1))
}
