//! Shared by the check-kernel tests: real kernel configs made from the test
//! bed's kernel source with the kernel's own tools (`make tinyconfig`,
//! `x86_64_defconfig`, `olddefconfig`, `merge_config.sh`), and a runner for
//! `diskless-mkimage check-kernel`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use diskless_qemu::kernel::{self, StockKernel};

/// `diskless-mkimage`, built once per test process.
pub fn mkimage() -> PathBuf {
    diskless_tests::workspace_bin("diskless-mkimage", "diskless-mkimage")
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn check_kernel(args: &[&str]) -> Run {
    let out = Command::new(mkimage())
        .arg("check-kernel")
        .args(args)
        .output()
        .expect("run diskless-mkimage");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn source() -> PathBuf {
    kernel::source_tree().expect("the test bed's kernel source (diskless-qemu setup)")
}

pub fn stock() -> StockKernel {
    kernel::stock_kernel().expect("the test bed's stock kernel (diskless-qemu setup)")
}

/// A fresh build directory for `make O=…`. Names are unique per test and
/// reused by the next run, so repeated runs do not pile up kernel trees.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir()
        .join("diskless-check-kernel")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn make(out: &Path, target: &str) {
    let o = format!("O={}", out.display());
    let st = Command::new("make")
        .current_dir(source())
        .args(["-s", &o, target])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("make");
    assert!(st.success(), "make {target} failed");
}

/// `base` (`tinyconfig`, `x86_64_defconfig`) with `fragment` merged by the
/// kernel's `merge_config.sh`, then `olddefconfig`. Returns the `.config`.
pub fn config(name: &str, base: &str, fragment: &str) -> PathBuf {
    let out = scratch(name);
    make(&out, base);
    if !fragment.is_empty() {
        let frag = out.join("fragment.config");
        std::fs::write(&frag, fragment).unwrap();
        merge(&out, &frag);
    }
    out.join(".config")
}

/// Merge `fragment` into `out/.config` and run `olddefconfig`.
pub fn merge(out: &Path, fragment: &Path) {
    let src = source();
    let st = Command::new(src.join("scripts/kconfig/merge_config.sh"))
        .current_dir(&src)
        .arg("-m")
        .arg("-O")
        .arg(out)
        .arg(out.join(".config"))
        .arg(fragment)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("merge_config.sh");
    assert!(st.success(), "merge_config.sh failed");
    make(out, "olddefconfig");
}

/// The test bed's kernel fragment without `CONFIG_FILE_LOCKING`: what an
/// admin writes when they do not know tinyconfig turns it off.
pub fn fragment_without_file_locking() -> String {
    kernel::FRAGMENT
        .lines()
        .filter(|l| !l.contains("CONFIG_FILE_LOCKING"))
        .map(|l| format!("{l}\n"))
        .collect()
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
