//! Our stack in a test-bed namespace: `diskless-server serve` (DHCP + RA +
//! SNTP, TFTP, HTTP, NFSv3) from an inventory written for the namespace's
//! nodes, a boot root with Debian's `pxelinux.0` + `ldlinux.c32` and the
//! custom kernel, and a fresh node root whose init is the static
//! `diskless-init`.
//!
//! The server is started and stopped by PID ([`OurStack::stop_server`],
//! [`OurStack::start_server`]) so tests can restart it under running nodes.

use crate::netns::{Netns, Proc};
use crate::rootfs;
use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const PXELINUX: &str = "/usr/lib/PXELINUX/pxelinux.0";
const LDLINUX: &str = "/usr/lib/syslinux/modules/bios/ldlinux.c32";
/// Debian's UEFI x64 syslinux (package syslinux-efi) and its core module.
pub const SYSLINUX_EFI: &str = "/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi";
const LDLINUX_E64: &str = "/usr/lib/syslinux/modules/efi64/ldlinux.e64";

/// Kernel arguments the test bed's nodes get (beside the generated
/// `root=`/`nfsroot=`/`ip=`/`init=`) from [`OurStack::start`].
pub const NODE_CMDLINE: &str = "console=ttyS0";

/// [`NODE_CMDLINE`] tuned for boot time on QEMU's `pc` machine under TCG
/// (`bench boot`, the demo). `acpi=noirq`: PCI IRQ routing from the BIOS's
/// `$PIR` table instead of evaluating the ACPI PCI link devices, whose AML
/// cost 1.5–3.5 s under TCG with the custom kernel (ACPI itself stays on,
/// for poweroff).
pub const FAST_CMDLINE: &str = "console=ttyS0 acpi=noirq";

/// One inventory node.
#[derive(Debug, Clone)]
pub struct OurNode {
    pub hostname: String,
    pub mac: String,
    pub ip: String,
}

/// How iPXE firmware is booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootPath {
    /// iPXE gets `pxelinux.0` over TFTP, then `pxelinux.cfg/01-<mac>` (the seed's path).
    Pxelinux,
    /// iPXE gets its per-node script over HTTP and fetches the kernel over HTTP.
    Ipxe,
}

/// What to serve.
#[derive(Debug, Clone)]
pub struct OurOptions {
    pub kernel: PathBuf,
    pub nodes: Vec<OurNode>,
    /// Public key let into root's `authorized_keys`.
    pub ssh_pubkey: String,
    pub path: BootPath,
    /// A UEFI boot file copied into the boot root and named as `loader_uefi`.
    pub uefi_loader: Option<PathBuf>,
    /// The static diskless-init ([`init_binary`]).
    pub init_bin: PathBuf,
    /// The `diskless-server` binary ([`server_binary`]).
    pub server_bin: PathBuf,
}

/// The running stack; the server is killed (by PID) and the files removed on drop.
pub struct OurStack {
    dir: PathBuf,
    server_bin: PathBuf,
    server: Option<Proc>,
    starts: u32,
}

/// Paths inside the run directory.
pub fn culc_dir(dir: &Path) -> PathBuf {
    dir.join("culc")
}

impl OurStack {
    /// Lays out the boot root and node root, writes the inventory and starts
    /// the server in `ns`; returns once it says `ready:`.
    pub fn start(ns: &Netns, opts: &OurOptions) -> Result<OurStack> {
        Self::start_with_cmdline(ns, opts, NODE_CMDLINE)
    }

    /// [`OurStack::start`] with `cmdline` as the cluster's kernel arguments
    /// (e.g. [`FAST_CMDLINE`]).
    pub fn start_with_cmdline(ns: &Netns, opts: &OurOptions, cmdline: &str) -> Result<OurStack> {
        let dir = std::env::temp_dir().join(format!("diskless-ours-{}", ns.name()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        crate::cleanup::register_dir(&dir);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        let root = dir.join("root");
        let boot = dir.join("boot");
        std::fs::create_dir_all(culc_dir(&dir))?;
        std::fs::create_dir_all(&boot)?;
        prepare_root(&root, ns.server_ip(), &dir, opts)?;
        let uefi = prepare_boot(&boot, opts)?;
        std::fs::write(
            dir.join("inventory.toml"),
            inventory(ns.server_ip(), &dir, opts, uefi.as_deref(), cmdline),
        )?;
        let mut stack = OurStack {
            dir,
            server_bin: opts.server_bin.clone(),
            server: None,
            starts: 0,
        };
        stack.start_server(ns)?;
        Ok(stack)
    }

    /// Where the inventory, roots and logs are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The exported node root.
    pub fn root_dir(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// PID of the running server, if any.
    pub fn server_pid(&self) -> Option<u32> {
        self.server.as_ref().map(|p| p.pid())
    }

    /// The current server log (`server-<n>.log`).
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.log_path(self.starts)).unwrap_or_default()
    }

    fn log_path(&self, n: u32) -> PathBuf {
        self.dir.join(format!("server-{n}.log"))
    }

    /// Starts `diskless-server serve` in `ns` and waits for `ready:`.
    pub fn start_server(&mut self, ns: &Netns) -> Result<()> {
        if self.server.is_some() {
            return Ok(());
        }
        self.starts += 1;
        let log = self.log_path(self.starts);
        let s = |p: PathBuf| p.display().to_string();
        let argv = [
            s(self.server_bin.clone()),
            "serve".into(),
            "--inventory".into(),
            s(self.dir.join("inventory.toml")),
            "--listen".into(),
            ns.server_ip().to_string(),
            "--nfs-key".into(),
            s(self.dir.join("nfs.key")),
            "--lease-file".into(),
            s(self.dir.join("dhcp.leases")),
        ];
        let argv: Vec<&str> = argv.iter().map(|a| a.as_str()).collect();
        let mut p = ns
            .spawn(&argv, Some(&log))
            .context("starting diskless-server")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("ready:") {
                break;
            }
            if p.try_wait()?.is_some() || Instant::now() >= deadline {
                bail!(
                    "diskless-server did not become ready (log {}):\n{}",
                    log.display(),
                    text.trim()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.server = Some(p);
        Ok(())
    }

    /// Kills the server (by PID) and reaps it.
    pub fn stop_server(&mut self) {
        if let Some(mut p) = self.server.take() {
            p.kill();
        }
    }

    /// Switches every node to `boot_mode = "initramfs"` with `image` as the
    /// initrd (`initrd.img` in the boot root), for a stock kernel, and
    /// restarts the server on the new inventory.
    pub fn use_initrd(&mut self, ns: &Netns, image: &[u8]) -> Result<()> {
        std::fs::write(self.dir.join("boot/initrd.img"), image)?;
        let inv = self.dir.join("inventory.toml");
        let text = std::fs::read_to_string(&inv)?.replace(
            "boot_mode = \"direct\"\n",
            "boot_mode = \"initramfs\"\ninitrd = \"initrd.img\"\n",
        );
        std::fs::write(&inv, text)?;
        self.stop_server();
        self.start_server(ns)
    }

    /// `GET /status` from the running server's HTTP service (the JSON body).
    pub fn http_status(&self, ns: &Netns) -> Result<String> {
        http_get(ns, ns.server_ip(), 80, "/status")
    }
}

impl Drop for OurStack {
    fn drop(&mut self) {
        self.stop_server();
        crate::cleanup::unregister_dir(&self.dir);
        if std::env::var_os("DISKLESS_KEEP_RUNS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A plain HTTP/1.0 GET inside `ns`; returns the body.
pub fn http_get(ns: &Netns, ip: &str, port: u16, path: &str) -> Result<String> {
    let addr: std::net::SocketAddr = format!("{ip}:{port}").parse()?;
    let req = format!("GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n");
    let text = ns.run_in(move || -> std::io::Result<String> {
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.write_all(req.as_bytes())?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    })??;
    Ok(match text.split_once("\r\n\r\n") {
        Some((_, body)) => body.to_string(),
        None => text,
    })
}

fn prepare_root(root: &Path, server: &str, dir: &Path, opts: &OurOptions) -> Result<()> {
    rootfs::unpack(root)?;
    let sbin = root.join("sbin");
    let dest = sbin.join("diskless-init");
    std::fs::copy(&opts.init_bin, &dest).with_context(|| {
        format!(
            "copying {} (the static diskless-init)",
            opts.init_bin.display()
        )
    })?;
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755))?;
    for name in ["reboot", "poweroff", "halt"] {
        let l = sbin.join(name);
        let _ = std::fs::remove_file(&l);
        std::os::unix::fs::symlink("diskless-init", &l)?;
    }
    rootfs::inject_ssh_key(root, &opts.ssh_pubkey)?;
    // One root for every node: the hostname must come from the inventory
    // (the kernel's ip= field), not from a file.
    let _ = std::fs::remove_file(root.join("etc/hostname"));
    std::fs::create_dir_all(root.join("culc"))?;
    std::fs::write(
        root.join("etc/fstab"),
        format!(
            "# written by diskless-qemu (our stack)\n{server}:{} /culc nfs rw,vers=3,tcp,nolock 0 0\n",
            culc_dir(dir).display()
        ),
    )?;
    Ok(())
}

/// Copies the loaders and kernel; returns the UEFI loader's file name.
fn prepare_boot(boot: &Path, opts: &OurOptions) -> Result<Option<String>> {
    for (src, name) in [(PXELINUX, "pxelinux.0"), (LDLINUX, "ldlinux.c32")] {
        std::fs::copy(src, boot.join(name)).with_context(|| {
            format!("copying {src} (install pxelinux, syslinux-common: `diskless-qemu setup`)")
        })?;
    }
    std::fs::copy(&opts.kernel, boot.join("bzImage"))
        .with_context(|| format!("copying kernel {}", opts.kernel.display()))?;
    let Some(efi) = &opts.uefi_loader else {
        return Ok(None);
    };
    let name = efi
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "boot.efi".into());
    std::fs::copy(efi, boot.join(&name))
        .with_context(|| format!("copying UEFI loader {}", efi.display()))?;
    // syslinux.efi loads ldlinux.e64 from beside itself on the boot server;
    // Debian ships it in syslinux-common, not next to syslinux.efi.
    let beside = efi.parent().map(|d| d.join("ldlinux.e64"));
    if let Some(l) = beside
        .into_iter()
        .chain([PathBuf::from(LDLINUX_E64)])
        .find(|l| l.exists())
    {
        std::fs::copy(&l, boot.join("ldlinux.e64"))?;
    }
    Ok(Some(name))
}

/// The inventory for the namespace's nodes.
pub fn inventory(
    server: &str,
    dir: &Path,
    opts: &OurOptions,
    uefi: Option<&str>,
    cmdline: &str,
) -> String {
    let root = dir.join("root");
    let mut t = format!(
        "# written by diskless-qemu for a test-bed namespace\n\
         [cluster]\nname = \"testbed\"\nserver = \"{server}\"\nsubnet = \"172.16.1.0/24\"\n\
         boot_root = \"{boot}\"\nnfs_root = \"{root}\"\nkernel = \"bzImage\"\n\
         boot_mode = \"direct\"\ncmdline = \"{cmdline}\"\n\
         nfs_options = \"vers=3,tcp,rsize=131072,wsize=131072\"\ninit = \"/sbin/diskless-init\"\n\
         ipxe_scripts = {ipxe}\n",
        boot = dir.join("boot").display(),
        root = root.display(),
        ipxe = opts.path == BootPath::Ipxe,
    );
    if let Some(u) = uefi {
        t.push_str(&format!("loader_uefi = \"{u}\"\n"));
    }
    for n in &opts.nodes {
        t.push_str(&format!(
            "\n[[nodes]]\nname = \"{}\"\nmac = \"{}\"\nip = \"{}\"\n",
            n.hostname, n.mac, n.ip
        ));
    }
    t.push_str(&format!(
        "\n[[exports]]\npath = \"{}\"\naccess = \"rw\"\nnodes = [\"*\"]\n\n\
         [[exports]]\npath = \"{}\"\naccess = \"rw\"\nnodes = [\"*\"]\n",
        root.display(),
        culc_dir(dir).display()
    ));
    t
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` (relative to the
/// workspace when relative), else `<workspace>/target`.
pub fn target_root() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => workspace().join(d),
        _ => workspace().join("target"),
    }
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// The static `diskless-init`: `$DISKLESS_INIT_BIN`, else built (or found
/// up to date) in `target/init-static` with `+crt-static`.
pub fn init_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("DISKLESS_INIT_BIN") {
        return Ok(PathBuf::from(p));
    }
    let ws = workspace();
    let out = target_root().join("init-static");
    eprintln!("==> building the static diskless-init (cargo build --profile init, +crt-static; fast when up to date)");
    let st = std::process::Command::new(cargo())
        .current_dir(&ws)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .args([
            "build",
            "--quiet",
            "--profile",
            "init",
            "-p",
            "diskless-init",
            "--target",
            "x86_64-unknown-linux-gnu",
            "--target-dir",
        ])
        .arg(&out)
        .status()
        .context("running cargo to build the static diskless-init")?;
    if !st.success() {
        bail!("building the static diskless-init failed ({st}); set DISKLESS_INIT_BIN to a prebuilt one");
    }
    Ok(out.join("x86_64-unknown-linux-gnu/init/diskless-init"))
}

/// `diskless-server` built with the release profile (benchmarks: the peers'
/// daemons are optimised builds too): `$DISKLESS_SERVER_BIN`, else
/// `cargo build --release -p diskless-server` (fast when up to date).
pub fn server_binary_release() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("DISKLESS_SERVER_BIN") {
        return Ok(PathBuf::from(p));
    }
    let ws = workspace();
    eprintln!("==> building diskless-server (cargo build --release -p diskless-server; the first build takes a few minutes)");
    let st = std::process::Command::new(cargo())
        .current_dir(&ws)
        .args(["build", "--quiet", "--release", "-p", "diskless-server"])
        .status()
        .context("running cargo to build diskless-server")?;
    if !st.success() {
        bail!("building diskless-server failed ({st}); set DISKLESS_SERVER_BIN to a prebuilt one");
    }
    Ok(target_root().join("release/diskless-server"))
}

/// `diskless-server`: `$DISKLESS_SERVER_BIN`, else next to this executable
/// (or its parent, for test binaries in `deps/`) when present, else built.
pub fn server_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("DISKLESS_SERVER_BIN") {
        return Ok(PathBuf::from(p));
    }
    // Under cargo (tests, `cargo run`) build it, so it is never stale.
    if std::env::var_os("CARGO").is_none() {
        if let Ok(exe) = std::env::current_exe() {
            for d in exe.ancestors().skip(1).take(2) {
                let c = d.join("diskless-server");
                if c.is_file() {
                    return Ok(c);
                }
            }
        }
    }
    let ws = workspace();
    eprintln!("==> building diskless-server (cargo build -p diskless-server)");
    let st = std::process::Command::new(cargo())
        .current_dir(&ws)
        .args(["build", "--quiet", "-p", "diskless-server"])
        .status()
        .context("running cargo to build diskless-server")?;
    if !st.success() {
        bail!("building diskless-server failed ({st})");
    }
    Ok(target_root().join("debug/diskless-server"))
}
