//! The seed's stack, all inside a test-bed namespace: dnsmasq (DHCP + TFTP
//! serving Debian's `pxelinux.0`), nfs-ganesha (VFS FSAL) exporting a fresh
//! copy of the node root, and the talk's `Rcinit` + `inittab` in that root.
//!
//! rpcbind and Ganesha run in a private mount namespace with their own `/run`,
//! so `/run/rpcbind.sock` never meets the host's or another test's.

use crate::netns::{Netns, Proc};
use crate::rootfs;
use anyhow::{bail, Context, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const RCINIT: &str = include_str!("../../peers/seed/Rcinit");
const INITTAB: &str = include_str!("../../peers/seed/inittab");
const FSTAB: &str = include_str!("../../peers/seed/fstab");

const PXELINUX: &str = "/usr/lib/PXELINUX/pxelinux.0";
const LDLINUX: &str = "/usr/lib/syslinux/modules/bios/ldlinux.c32";

/// Export paths (NFS pseudo paths) of the root and of `/culc`.
pub const ROOT_EXPORT: &str = "/cluster";
pub const CULC_EXPORT: &str = "/culc";

/// One node the seed's dhcpd.conf would list.
#[derive(Debug, Clone)]
pub struct SeedNode {
    pub hostname: String,
    pub mac: String,
    pub ip: String,
}

/// What to serve.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    /// The kernel pxelinux loads (`linux-cls1` in the seed).
    pub kernel: PathBuf,
    pub nodes: Vec<SeedNode>,
    /// Public key let into root's `authorized_keys`.
    pub ssh_pubkey: String,
    /// Send IPv6 router advertisements (dnsmasq `enable-ra`), which ends
    /// iPXE's wait for IPv6 autoconfiguration early.
    pub ra: bool,
}

/// The running stack; stopped (processes killed by PID) and its files
/// removed on drop.
pub struct SeedStack {
    dir: PathBuf,
    _dnsmasq: Proc,
    _nfs: Proc,
}

impl SeedStack {
    /// Unpacks the node root, writes the configs and starts the servers in
    /// `ns`; returns once Ganesha answers on port 2049.
    pub fn start(ns: &Netns, opts: &SeedOptions) -> Result<SeedStack> {
        let dir = std::env::temp_dir().join(format!("diskless-seed-{}", ns.name()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        crate::cleanup::register_dir(&dir);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        let root = dir.join("root");
        let culc = dir.join("culc");
        std::fs::create_dir_all(&culc)?;
        prepare_root(&root, opts)?;
        let tftp = dir.join("tftp");
        prepare_tftp(&tftp, ns.server_ip(), opts)?;

        let conf = dir.join("dnsmasq.conf");
        std::fs::write(&conf, dnsmasq_conf(&dir, &tftp, opts))?;
        if opts.ra {
            ns.exec(&["ip", "addr", "add", "fd00:d15c::1/64", "dev", "br0"])?;
        }
        let mut dnsmasq = ns.spawn(
            &[
                "dnsmasq",
                "--keep-in-foreground",
                "--log-facility=-",
                &format!("--conf-file={}", conf.display()),
            ],
            Some(&dir.join("dnsmasq.log")),
        )?;
        std::thread::sleep(Duration::from_millis(300));
        if dnsmasq.try_wait()?.is_some() {
            let log = std::fs::read_to_string(dir.join("dnsmasq.log")).unwrap_or_default();
            bail!("dnsmasq exited at start:\n{}", log.trim());
        }

        let gconf = dir.join("ganesha.conf");
        std::fs::write(&gconf, ganesha_conf(ns.server_ip(), &root, &culc, &dir))?;
        let script = format!(
            "set -e; mount -t tmpfs -o mode=755 tmpfs /run; mkdir -p /run/ganesha; \
             rpcbind -f -w & \
             for i in $(seq 50); do [ -S /run/rpcbind.sock ] && break; sleep 0.1; done; \
             exec ganesha.nfsd -F -L {log} -f {conf} -p /run/ganesha/ganesha.pid -N NIV_EVENT",
            log = dir.join("ganesha.log").display(),
            conf = gconf.display()
        );
        let nfs = ns.spawn(
            &[
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                &script,
            ],
            Some(&dir.join("nfs.log")),
        )?;
        let stack = SeedStack {
            dir,
            _dnsmasq: dnsmasq,
            _nfs: nfs,
        };
        stack.wait_nfs(ns, Duration::from_secs(60))?;
        Ok(stack)
    }

    /// The node root being exported.
    pub fn root_dir(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// Where the configs and logs are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn wait_nfs(&self, ns: &Netns, timeout: Duration) -> Result<()> {
        let addr: std::net::SocketAddr = format!("{}:2049", ns.server_ip()).parse()?;
        let deadline = Instant::now() + timeout;
        let up = ns.run_in(move || loop {
            if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(200));
        })?;
        if !up {
            let log = std::fs::read_to_string(self.dir.join("ganesha.log")).unwrap_or_default();
            let out = std::fs::read_to_string(self.dir.join("nfs.log")).unwrap_or_default();
            bail!("nfs-ganesha did not listen on {addr} within {timeout:?}:\n{out}\n{log}");
        }
        Ok(())
    }
}

impl Drop for SeedStack {
    fn drop(&mut self) {
        crate::cleanup::unregister_dir(&self.dir);
        if std::env::var_os("DISKLESS_KEEP_RUNS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn prepare_root(root: &Path, opts: &SeedOptions) -> Result<()> {
    rootfs::unpack(root)?;
    let rc = root.join("usr/bin/Rcinit");
    std::fs::write(&rc, RCINIT)?;
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o755))?;
    std::fs::write(root.join("etc/inittab"), INITTAB)?;
    std::fs::write(root.join("etc/fstab"), FSTAB)?;
    std::fs::create_dir_all(root.join("culc"))?;
    rootfs::inject_ssh_key(root, &opts.ssh_pubkey)?;
    // One shared root for all nodes, as in the seed: the hostname comes from
    // the kernel's ip= autoconfiguration.
    let _ = std::fs::remove_file(root.join("etc/hostname"));
    Ok(())
}

/// The kernel command line the seed meant (its bugs fixed, see
/// `qemu/peers/seed/README.md`).
pub fn append(server: &str, node: &SeedNode) -> String {
    format!(
        "console=ttyS0 root=/dev/nfs rw nfsroot={server}:{ROOT_EXPORT},vers=3,tcp \
         ip={ip}:{server}:{server}:255.255.255.0:{host}:eth0:off",
        ip = node.ip,
        host = node.hostname
    )
}

fn prepare_tftp(tftp: &Path, server: &str, opts: &SeedOptions) -> Result<()> {
    let cfgdir = tftp.join("pxelinux.cfg");
    std::fs::create_dir_all(&cfgdir)?;
    for (src, name) in [(PXELINUX, "pxelinux.0"), (LDLINUX, "ldlinux.c32")] {
        std::fs::copy(src, tftp.join(name)).with_context(|| {
            format!("copying {src} (install pxelinux, syslinux-common: `diskless-qemu setup`)")
        })?;
    }
    std::fs::copy(&opts.kernel, tftp.join("linux-cls1"))
        .with_context(|| format!("copying kernel {}", opts.kernel.display()))?;
    for n in &opts.nodes {
        let file = format!("01-{}", n.mac.to_ascii_lowercase().replace(':', "-"));
        let a = append(server, n);
        std::fs::write(
            cfgdir.join(file),
            format!(
                "DEFAULT linux-cls1\nTIMEOUT 1\nTOTALTIMEOUT 1\nLABEL linux-cls1\n  KERNEL linux-cls1\n  APPEND {a}\n"
            ),
        )?;
    }
    Ok(())
}

fn dnsmasq_conf(dir: &Path, tftp: &Path, opts: &SeedOptions) -> String {
    let mut c = String::new();
    // DHCP and TFTP only: no DNS; only the listed hosts get addresses, as
    // with the seed's dhcpd.conf.
    c.push_str("port=0\ninterface=br0\nbind-interfaces\nuser=root\ndhcp-authoritative\n");
    c.push_str("dhcp-range=172.16.1.0,static,255.255.255.0\n");
    c.push_str(&format!(
        "dhcp-leasefile={}\n",
        dir.join("leases").display()
    ));
    c.push_str(&format!("pid-file={}\n", dir.join("dnsmasq.pid").display()));
    for n in &opts.nodes {
        c.push_str(&format!("dhcp-host={},{},{}\n", n.mac, n.ip, n.hostname));
    }
    c.push_str("dhcp-boot=pxelinux.0\nenable-tftp\n");
    c.push_str(&format!("tftp-root={}\n", tftp.display()));
    if opts.ra {
        c.push_str("enable-ra\ndhcp-range=::,constructor:br0,ra-only\n");
    }
    c
}

fn ganesha_conf(server: &str, root: &Path, culc: &Path, dir: &Path) -> String {
    let export = |id: u32, path: &Path, pseudo: &str| {
        format!(
            "EXPORT {{\n  Export_Id = {id};\n  Path = \"{}\";\n  Pseudo = \"{pseudo}\";\n  \
             Access_Type = RW;\n  Squash = No_Root_Squash;\n  Protocols = 3;\n  \
             Transports = TCP, UDP;\n  SecType = sys;\n  FSAL {{ Name = VFS; }}\n}}\n",
            path.display()
        )
    };
    format!(
        "NFS_CORE_PARAM {{\n  Protocols = 3;\n  Mount_Path_Pseudo = true;\n  Bind_addr = {server};\n  Enable_NLM = false;\n  \
         Enable_RQUOTA = false;\n}}\nNFS_KRB5 {{ Active_krb5 = false; }}\n\
         NFSV4 {{ Graceless = true; RecoveryRoot = \"{rec}\"; }}\n{}{}",
        export(1, root, ROOT_EXPORT),
        export(2, culc, CULC_EXPORT),
        rec = dir.join("recovery").display()
    )
}
