//! The QEMU launcher: BIOS (iPXE on e1000) or UEFI (OVMF) firmware, PXE or
//! direct `-kernel/-initrd/-append` boot, serial console read live into a
//! [`Timeline`], TCG unless KVM is proven to work. Killed on drop.

use crate::netns::{Netns, Proc};
use crate::timeline::{Console, Timeline};
use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod accel;
mod prompt;
pub use accel::accel;
use prompt::PromptAnswer;

/// Firmware the node starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// SeaBIOS; the e1000's option ROM is iPXE.
    Bios,
    /// OVMF (`/usr/share/OVMF/OVMF_CODE_4M.fd`); iPXE EFI driver on the NIC.
    Uefi,
}

/// How the node gets its kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Boot {
    /// Network boot from the first NIC (`bootindex=1`).
    Pxe,
    /// QEMU loads the kernel itself (no firmware network boot).
    Direct {
        kernel: PathBuf,
        initrd: Option<PathBuf>,
        append: String,
    },
    /// Boot from the first disk.
    Disk,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NicModel {
    E1000,
    VirtioNet,
}

/// A NIC attached to a tap of the namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    /// Tap name created with [`Netns::add_tap`].
    pub tap: String,
    /// e.g. `52:54:00:12:34:10`.
    pub mac: String,
    pub model: NicModel,
}

/// Everything about one QEMU node.
#[derive(Debug, Clone)]
pub struct VmConfig {
    pub name: String,
    pub firmware: Firmware,
    pub boot: Boot,
    pub memory_mb: u32,
    pub cpus: u32,
    /// Raw disk images, attached as virtio-blk (`/dev/vda`, `/dev/vdb`, …).
    pub disks: Vec<PathBuf>,
    pub nics: Vec<Nic>,
    /// `-rtc base=…`, e.g. `2001-01-01` to start with a wrong clock.
    pub rtc_base: Option<String>,
    /// Where the console is copied as it arrives (default: the run directory).
    pub serial_log: Option<PathBuf>,
    /// Attach a virtio-rng device (default). Without it a 6.1 guest under
    /// TCG can wait a minute for `crng init done`, and sshd blocks on it.
    pub rng: bool,
    /// Answer the iPXE ROM's "Press Ctrl-B for the iPXE command line..."
    /// prompt with a space as soon as it appears on the console (BIOS PXE
    /// boots only; default on). Any key but Ctrl-B ends iPXE's 2 s wait and
    /// lets it boot on, as an iPXE built with `BANNER_TIMEOUT 0` would;
    /// Debian's ROM cannot be rebuilt here. Both stacks of `bench boot` get it.
    pub skip_ipxe_prompt: bool,
    /// Appended verbatim to QEMU's arguments.
    pub extra_args: Vec<String>,
}

impl VmConfig {
    /// A 512 MiB, 1-CPU BIOS node that PXE-boots from an e1000 on `tap`.
    pub fn pxe(name: &str, tap: &str, mac: &str) -> VmConfig {
        VmConfig {
            name: name.to_string(),
            firmware: Firmware::Bios,
            boot: Boot::Pxe,
            memory_mb: 512,
            cpus: 1,
            disks: Vec::new(),
            nics: vec![Nic {
                tap: tap.to_string(),
                mac: mac.to_string(),
                model: NicModel::E1000,
            }],
            rtc_base: None,
            serial_log: None,
            rng: true,
            skip_ipxe_prompt: true,
            extra_args: Vec::new(),
        }
    }

    /// A node that boots `kernel` directly with `append` (`console=ttyS0` is
    /// added if missing), with a virtio-net NIC on `tap` when given.
    pub fn direct(name: &str, kernel: PathBuf, append: &str) -> VmConfig {
        let mut c = VmConfig::pxe(name, "", "");
        c.nics.clear();
        let append = if append.contains("console=") {
            append.to_string()
        } else {
            format!("console=ttyS0 {append}")
        };
        c.boot = Boot::Direct {
            kernel,
            initrd: None,
            append,
        };
        c
    }

    /// Whether [`Vm::start`] answers iPXE's Ctrl-B prompt for this node.
    pub fn answers_ipxe_prompt(&self) -> bool {
        self.skip_ipxe_prompt && self.firmware == Firmware::Bios && self.boot == Boot::Pxe
    }

    /// The QEMU argument list (without the program name).
    pub fn args(&self, accel: &str, run_dir: &std::path::Path) -> Result<Vec<String>> {
        let mut a: Vec<String> = Vec::new();
        let mut push = |s: &[&str]| a.extend(s.iter().map(|x| x.to_string()));
        push(&["-name", &self.name, "-machine", "pc,graphics=off"]);
        push(&["-accel", accel, "-m", &self.memory_mb.to_string()]);
        push(&["-smp", &self.cpus.to_string()]);
        // Serial on stdio (read live by us), no display, no monitor; a reboot
        // (e.g. after a panic) ends QEMU instead of looping.
        push(&["-display", "none", "-vga", "none", "-monitor", "none"]);
        push(&["-serial", "stdio", "-no-reboot", "-nodefaults"]);
        if let Some(base) = &self.rtc_base {
            push(&["-rtc", &format!("base={base}")]);
        }
        if self.firmware == Firmware::Uefi {
            let code = "/usr/share/OVMF/OVMF_CODE_4M.fd";
            let vars = run_dir.join("OVMF_VARS.fd");
            std::fs::copy("/usr/share/OVMF/OVMF_VARS_4M.fd", &vars)
                .context("copying OVMF_VARS_4M.fd (is the ovmf package installed? run `diskless-qemu setup`)")?;
            push(&[
                "-drive",
                &format!("if=pflash,format=raw,unit=0,readonly=on,file={code}"),
            ]);
            push(&[
                "-drive",
                &format!("if=pflash,format=raw,unit=1,file={}", vars.display()),
            ]);
        }
        for (i, nic) in self.nics.iter().enumerate() {
            push(&[
                "-netdev",
                &format!("tap,id=n{i},ifname={},script=no,downscript=no", nic.tap),
            ]);
            let model = match nic.model {
                NicModel::E1000 => "e1000",
                NicModel::VirtioNet => "virtio-net-pci",
            };
            let mut dev = format!("{model},netdev=n{i},mac={}", nic.mac);
            if i == 0 && self.boot == Boot::Pxe {
                dev.push_str(",bootindex=1");
            } else if nic.model == NicModel::VirtioNet {
                // No option ROM: nothing to do when not PXE-booting, saves time.
                dev.push_str(",romfile=");
            }
            push(&["-device", &dev]);
        }
        for (i, d) in self.disks.iter().enumerate() {
            push(&[
                "-drive",
                &format!("file={},format=raw,if=none,id=d{i}", d.display()),
            ]);
            let mut dev = format!("virtio-blk-pci,drive=d{i}");
            if i == 0 && self.boot == Boot::Disk {
                dev.push_str(",bootindex=1");
            }
            push(&["-device", &dev]);
        }
        if self.rng {
            push(&["-device", "virtio-rng-pci"]);
        }
        if let Boot::Direct {
            kernel,
            initrd,
            append,
        } = &self.boot
        {
            push(&["-kernel", &kernel.display().to_string()]);
            if let Some(i) = initrd {
                push(&["-initrd", &i.display().to_string()]);
            }
            push(&["-append", append]);
        }
        a.extend(self.extra_args.iter().cloned());
        Ok(a)
    }
}

/// A running QEMU node.
pub struct Vm {
    proc: Proc,
    started: Instant,
    console: Arc<Mutex<Console>>,
    run_dir: PathBuf,
    serial_log: PathBuf,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Vm {
    /// Starts QEMU inside `ns` (needed for taps; any namespace works for a
    /// node without NICs).
    pub fn start(cfg: &VmConfig, ns: &Netns) -> Result<Vm> {
        let run_dir = std::env::temp_dir().join(format!(
            "diskless-vm-{}-{}-{}",
            cfg.name,
            std::process::id(),
            RUN_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&run_dir)?;
        crate::cleanup::register_dir(&run_dir);
        let serial_log = cfg
            .serial_log
            .clone()
            .unwrap_or_else(|| run_dir.join("console.log"));
        let accel = accel();
        let args = cfg.args(accel, &run_dir)?;
        tracing::debug!(?args, "starting qemu");
        let stderr = std::fs::File::create(run_dir.join("qemu.stderr"))?;
        let mut c = ns.command("qemu-system-x86_64");
        c.args(&args).stdout(Stdio::piped()).stderr(stderr);
        // The serial console's input: only written to answer iPXE's prompt.
        let mut keys = None;
        if cfg.answers_ipxe_prompt() {
            let (r, w) = std::io::pipe().context("creating the console input pipe")?;
            c.stdin(Stdio::from(r));
            keys = Some(PromptAnswer::new(w));
        } else {
            c.stdin(Stdio::null());
        }
        let started = Instant::now();
        let mut proc = ns
            .spawn_command(c)
            .context("starting qemu-system-x86_64 (run `diskless-qemu setup`)")?;
        let mut stdout = proc_stdout(&mut proc).context("qemu stdout")?;
        let console = Arc::new(Mutex::new(Console::default()));
        let mut log = std::fs::File::create(&serial_log)
            .with_context(|| format!("creating {}", serial_log.display()))?;
        let c2 = console.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match stdout.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let at = started.elapsed();
                        let _ = log.write_all(&buf[..n]);
                        if let Some(k) = keys.as_mut() {
                            k.feed(&buf[..n]);
                        }
                        c2.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(&buf[..n], at);
                    }
                }
            }
        });
        Ok(Vm {
            proc,
            started,
            console,
            run_dir,
            serial_log,
            reader: Some(reader),
        })
    }

    /// When QEMU was started (the timeline's zero).
    pub fn started(&self) -> Instant {
        self.started
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The console log file (written as output arrives).
    pub fn serial_log(&self) -> &std::path::Path {
        &self.serial_log
    }

    /// Console text so far.
    pub fn console_text(&self) -> String {
        self.console
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .text()
    }

    /// Milestones seen so far.
    pub fn timeline(&self) -> Timeline {
        Timeline::parse(&self.console.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// `true` while QEMU runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.proc.try_wait(), Ok(None))
    }

    /// Waits until `pattern` appears on the console; returns when it did
    /// (since QEMU started). Fails on timeout or if QEMU exits, showing the
    /// console's tail.
    pub fn wait_for(&mut self, pattern: &str, timeout: Duration) -> Result<Duration> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(t) = self
                .console
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .find_seq(&[pattern])
            {
                return Ok(t);
            }
            if !self.is_running() {
                // Let the reader drain what is left before reporting.
                std::thread::sleep(Duration::from_millis(100));
                bail!(
                    "QEMU exited before {pattern:?} appeared.\n{}",
                    self.diagnostics()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "timed out after {:?} waiting for {pattern:?} on the console.\n{}",
                    timeout,
                    self.diagnostics()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A console line that means this boot cannot succeed any more (firmware
    /// gave up, kernel panic), if one appeared.
    pub fn fatal(&self) -> Option<String> {
        const FATAL: &[&str] = &[
            "No bootable device",
            "Kernel panic",
            "No more network devices",
            "Boot failed",
        ];
        let text = self.console_text();
        FATAL
            .iter()
            .find(|p| text.contains(*p))
            .map(|p| p.to_string())
    }

    /// The console's last lines and QEMU's stderr, for error messages.
    pub fn diagnostics(&self) -> String {
        let text = self.console_text();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        let stderr = std::fs::read_to_string(self.run_dir.join("qemu.stderr")).unwrap_or_default();
        format!(
            "--- console tail ({}) ---\n{tail}\n--- qemu stderr ---\n{}",
            self.serial_log.display(),
            stderr.trim()
        )
    }

    /// Stops QEMU now.
    pub fn kill(&mut self) {
        self.proc.kill();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.kill();
        crate::cleanup::unregister_dir(&self.run_dir);
        if std::env::var_os("DISKLESS_KEEP_RUNS").is_none()
            && self.serial_log.starts_with(&self.run_dir)
        {
            // Keep the console log when the test failed: it is the evidence.
            if !std::thread::panicking() {
                let _ = std::fs::remove_dir_all(&self.run_dir);
            }
        } else {
            let _ = std::fs::remove_file(self.run_dir.join("OVMF_VARS.fd"));
        }
    }
}

static RUN_COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn proc_stdout(p: &mut Proc) -> Option<std::process::ChildStdout> {
    p.take_stdout()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(c: &VmConfig) -> String {
        let dir = std::env::temp_dir().join(format!("dl-vmargs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = c.args("tcg", &dir).unwrap().join(" ");
        let _ = std::fs::remove_dir_all(&dir);
        a
    }

    #[test]
    fn pxe_node_boots_from_its_e1000() {
        let a = joined(&VmConfig::pxe("n1", "tap0", "52:54:00:00:00:01"));
        assert!(
            a.contains("-device e1000,netdev=n0,mac=52:54:00:00:00:01,bootindex=1"),
            "{a}"
        );
        assert!(a.contains("ifname=tap0,script=no"), "{a}");
        assert!(
            a.contains("-accel tcg") && a.contains("-serial stdio"),
            "{a}"
        );
        assert!(!a.contains("-kernel") && !a.contains("pflash"), "{a}");
    }

    #[test]
    fn direct_boot_adds_the_serial_console_once() {
        let c = VmConfig::direct("n1", "/k".into(), "root=/dev/vda");
        let a = joined(&c);
        assert!(
            a.contains("-kernel /k -append console=ttyS0 root=/dev/vda"),
            "{a}"
        );
        let c = VmConfig::direct("n1", "/k".into(), "console=ttyS0,115200 x");
        assert!(joined(&c).ends_with("-append console=ttyS0,115200 x"));
    }

    #[test]
    fn only_bios_pxe_nodes_answer_the_ipxe_prompt() {
        let mut c = VmConfig::pxe("n1", "tap0", "52:54:00:00:00:01");
        assert!(c.answers_ipxe_prompt());
        c.firmware = Firmware::Uefi;
        assert!(!c.answers_ipxe_prompt());
        let d = VmConfig::direct("n1", "/k".into(), "root=/dev/vda");
        assert!(!d.answers_ipxe_prompt());
        let mut off = VmConfig::pxe("n1", "tap0", "52:54:00:00:00:01");
        off.skip_ipxe_prompt = false;
        assert!(!off.answers_ipxe_prompt());
    }

    #[test]
    fn uefi_uses_ovmf_pflash_and_rtc_base_is_passed() {
        if !std::path::Path::new("/usr/share/OVMF/OVMF_VARS_4M.fd").exists() {
            return; // ovmf not installed on this machine
        }
        let mut c = VmConfig::pxe("n1", "tap0", "52:54:00:00:00:01");
        c.firmware = Firmware::Uefi;
        c.rtc_base = Some("2001-01-01".into());
        let a = joined(&c);
        assert!(a.contains("OVMF_CODE_4M.fd"), "{a}");
        assert!(a.contains("-rtc base=2001-01-01"), "{a}");
    }
}
