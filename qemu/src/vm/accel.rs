//! KVM or TCG. `/dev/kvm` may exist and hang (as on the CI machines), so KVM
//! is used only when a tiny guest proves it runs, within a short timeout.
//! The verdict is cached per host boot.

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static ACCEL: OnceLock<&'static str> = OnceLock::new();

/// `"kvm"` or `"tcg"`. `$DISKLESS_ACCEL` (kvm|tcg) overrides the probe.
pub fn accel() -> &'static str {
    ACCEL.get_or_init(|| match std::env::var("DISKLESS_ACCEL").as_deref() {
        Ok("kvm") => "kvm",
        Ok("tcg") => "tcg",
        _ => cached_probe(),
    })
}

fn cached_probe() -> &'static str {
    if !std::path::Path::new("/dev/kvm").exists() {
        return "tcg";
    }
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let file = crate::cache::dir().join("kvm-probe");
    if let Ok(s) = std::fs::read_to_string(&file) {
        if let Some((id, verdict)) = s.trim().rsplit_once(' ') {
            if id == boot_id.trim() {
                return if verdict == "kvm" { "kvm" } else { "tcg" };
            }
        }
    }
    let verdict = if probe_kvm() { "kvm" } else { "tcg" };
    let _ = std::fs::create_dir_all(crate::cache::dir());
    let _ = std::fs::write(&file, format!("{} {verdict}\n", boot_id.trim()));
    if verdict == "tcg" {
        eprintln!("diskless-qemu: /dev/kvm does not work here; using TCG (slower)");
    }
    verdict
}

/// Boots a 512-byte boot sector that writes to `isa-debug-exit` (QEMU then
/// exits with status 3) under KVM, with a 10 s limit.
fn probe_kvm() -> bool {
    let dir = std::env::temp_dir().join(format!("diskless-kvm-probe-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_err() {
        return false;
    }
    let img = dir.join("probe.img");
    let mut sector = vec![0u8; 512];
    // mov al,1 ; out 0xf4,al ; hlt ; jmp $-1
    sector[..7].copy_from_slice(&[0xb0, 0x01, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd]);
    sector[510] = 0x55;
    sector[511] = 0xaa;
    if std::fs::write(&img, &sector).is_err() {
        return false;
    }
    let child = Command::new("qemu-system-x86_64")
        .args([
            "-accel",
            "kvm",
            "-nodefaults",
            "-display",
            "none",
            "-monitor",
            "none",
        ])
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
        .arg("-drive")
        .arg(format!("file={},format=raw,if=floppy", img.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return false;
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let ok = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st.code() == Some(3),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                // A hung KVM vCPU may not even die; we do not wait for it.
                let _ = child.kill();
                break false;
            }
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    ok
}
