//! Guest-side figures of `bench nfs`: a TCG node (the test bed's custom
//! kernel) boots with its root over NFSv3 from ours or from nfs-ganesha —
//! same root tree, same kernel, same command line apart from the server's
//! ports, the NFS options our inventory gives nodes (rsize/wsize 128 KiB)
//! — runs diskless-init up to sshd, and then over SSH:
//! - reads a file sequentially with the host's page cache dropped for it
//!   (cold) and again (warm); the guest's own cache is dropped each time;
//! - lists the root tree (`ls -lR /usr /etc /var`, guest cache dropped).
//!
//! Time to SSH is from QEMU's start to the node's SSH banner.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::netns::{Netns, Proc};
use crate::ssh::{Ssh, SshKey};
use crate::vm::{Nic, NicModel, Vm, VmConfig};
use crate::{kernel, rootfs};

const SERVER_IP: &str = "172.16.1.1";
const NODE_IP: &str = "172.16.1.10";

/// One boot's figures, in seconds (and the number of listed lines).
#[derive(Debug, Clone, Copy)]
pub struct Boot {
    pub ssh_s: f64,
    pub cold_s: f64,
    pub warm_s: f64,
    pub ls_s: f64,
    pub ls_lines: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Ours,
    Ganesha,
}

/// The shared root tree (unpacked once), the file read and the SSH key.
pub struct Setup {
    pub work: PathBuf,
    pub root: PathBuf,
    pub big: PathBuf,
    key: SshKey,
    bzimage: PathBuf,
}

impl Setup {
    pub fn new(work: &Path, mib: u64) -> Result<Setup> {
        let k = kernel::custom_kernel()?;
        let key = SshKey::generate()?;
        let root = work.join("root");
        rootfs::unpack(&root)?;
        let init = crate::stack::init_binary()?;
        let dest = root.join("sbin/diskless-init");
        std::fs::copy(&init, &dest)
            .with_context(|| format!("copying {} into the root", init.display()))?;
        std::fs::set_permissions(&dest, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
        rootfs::inject_ssh_key(&root, &key.public_key()?)?;
        let _ = std::fs::remove_file(root.join("etc/hostname"));
        let big = root.join("big");
        let chunk: Vec<u8> = (0..1u32 << 20)
            .map(|i| (i.wrapping_mul(2246822519) >> 11) as u8)
            .collect();
        let mut f = std::fs::File::create(&big)?;
        for _ in 0..mib {
            std::io::Write::write_all(&mut f, &chunk)?;
        }
        f.sync_all()?;
        Ok(Setup {
            work: work.to_path_buf(),
            root,
            big,
            key,
            bzimage: k.bzimage,
        })
    }
}

/// Drops the host's page cache for `path` (it was written and synced):
/// GNU dd's `iflag=nocache count=0` advises DONTNEED for the whole file.
fn drop_host_cache(path: &Path) -> Result<()> {
    let ok = std::process::Command::new("dd")
        .arg(format!("if={}", path.display()))
        .args(["iflag=nocache", "count=0", "status=none"])
        .status()?
        .success();
    if !ok {
        bail!("dd iflag=nocache on {} failed", path.display());
    }
    Ok(())
}

fn start_ours(ns: &Netns, s: &Setup, dir: &Path, server: &Path) -> Result<Proc> {
    std::fs::create_dir_all(dir.join("boot"))?;
    let inv = dir.join("inventory.toml");
    std::fs::write(
        &inv,
        format!(
            "[cluster]\nname = \"guest\"\nserver = \"{SERVER_IP}\"\nsubnet = \"172.16.1.0/24\"\n\
             boot_root = \"{b}\"\nnfs_root = \"{r}\"\nkernel = \"bzImage\"\nboot_mode = \"direct\"\n\n\
             [[nodes]]\nname = \"node1\"\nmac = \"52:54:00:12:34:10\"\nip = \"{NODE_IP}\"\n\n\
             [[exports]]\npath = \"{r}\"\naccess = \"ro\"\nnodes = [\"*\"]\n",
            b = dir.join("boot").display(),
            r = s.root.display()
        ),
    )?;
    let key = s.work.join("nfs.key");
    let argv = [
        server.to_str().context("server path")?,
        "serve",
        "--inventory",
        inv.to_str().context("path")?,
        "--no-tftp",
        "--no-http",
        "--no-dhcp",
        "--no-portmap",
        "--listen",
        SERVER_IP,
        "--nfs-key",
        key.to_str().context("path")?,
    ];
    let p = ns.spawn(&argv, Some(&dir.join("ours.log")))?;
    super::wait_port(ns, 2049)?;
    Ok(p)
}

/// Seconds between the two `date +%s.%N` stamps a guest command printed
/// first, and the rest of its output.
fn span(out: &str) -> Result<(f64, Vec<String>)> {
    let f: Vec<&str> = out.split_whitespace().collect();
    if f.len() < 2 {
        bail!("unexpected guest output {out:?}");
    }
    let a: f64 = f[0].parse()?;
    let b: f64 = f[1].parse()?;
    Ok((b - a, f[2..].iter().map(|s| s.to_string()).collect()))
}

/// Runs `cmd` on the node over SSH with a long connect timeout (a TCG
/// guest on a saturated machine can take more than the test bed's 10 s
/// for the key exchange), retried twice. The commands time themselves
/// inside the guest, so neither skews the figure.
fn guest_run(ns: &Netns, s: &Setup, cmd: &str) -> Result<String> {
    let mut last = String::new();
    for _ in 0..3 {
        let out = ns
            .command("ssh")
            .args(["-o", "StrictHostKeyChecking=no"])
            .args(["-o", "UserKnownHostsFile=/dev/null"])
            .args(["-o", "LogLevel=ERROR", "-o", "BatchMode=yes"])
            .args(["-o", "ConnectTimeout=90", "-i"])
            .arg(s.key.private_key())
            .arg(format!("root@{NODE_IP}"))
            .arg(cmd)
            .stdin(std::process::Stdio::null())
            .output()?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        last = String::from_utf8_lossy(&out.stderr).trim().to_string();
        std::thread::sleep(Duration::from_secs(2));
    }
    bail!("`{cmd}` on the node failed: {last}")
}

/// Boots one node against `peer` and measures it.
pub fn one_boot(s: &Setup, peer: Peer, server: &Path, n: usize) -> Result<Boot> {
    let dir = s.work.join(format!("{peer:?}-{n}"));
    std::fs::create_dir_all(&dir)?;
    let ns = Netns::new("nfsguest")?;
    ns.add_tap("tap0")?;
    let (_srv, ports) = match peer {
        Peer::Ours => (start_ours(&ns, s, &dir, server)?, (2049, 2049)),
        Peer::Ganesha => (
            super::start_ganesha(&ns, &dir, &s.root, SERVER_IP, 2049)?,
            (2049, 2050),
        ),
    };
    let append = format!(
        "{} root=/dev/nfs nfsroot={SERVER_IP}:{},vers=3,tcp,rsize=131072,wsize=131072,port={},mountport={} \
         ip={NODE_IP}::{SERVER_IP}:255.255.255.0:node1:eth0:off \
         init=/sbin/diskless-init diskless.sntp=off",
        "console=ttyS0 acpi=noirq",
        s.root.display(),
        ports.0,
        ports.1
    );
    let mut cfg = VmConfig::direct("nfsguest", s.bzimage.clone(), &append);
    cfg.nics.push(Nic {
        tap: "tap0".into(),
        mac: "52:54:00:12:34:10".into(),
        model: NicModel::VirtioNet,
    });
    let mut vm = Vm::start(&cfg, &ns)?;
    let ssh = Ssh::new(&ns, NODE_IP, &s.key);
    let ssh_s = ssh
        .wait_boot(&mut vm, Duration::from_secs(600))?
        .as_secs_f64();
    let read = "sync; echo 3 > /proc/sys/vm/drop_caches; s=$(date +%s.%N); \
                cat /big > /dev/null; e=$(date +%s.%N); echo $s $e";
    drop_host_cache(&s.big)?;
    let (cold_s, _) = span(&guest_run(&ns, s, read)?)?;
    let (warm_s, _) = span(&guest_run(&ns, s, read)?)?;
    let (ls_s, rest) = span(&guest_run(
        &ns,
        s,
        "echo 3 > /proc/sys/vm/drop_caches; s=$(date +%s.%N); \
         n=$(ls -lR /usr /etc /var 2>/dev/null | wc -l); e=$(date +%s.%N); echo $s $e $n",
    )?)?;
    let ls_lines = rest.first().and_then(|n| n.parse().ok()).unwrap_or(0);
    vm.kill();
    drop(vm);
    drop(ns);
    if let Ok(pid) = std::fs::read_to_string(dir.join("rpcbind.pid")) {
        let _ = std::process::Command::new("kill").arg(pid.trim()).status();
    }
    Ok(Boot {
        ssh_s,
        cold_s,
        warm_s,
        ls_s,
        ls_lines,
    })
}
