//! Shared by the inventory/import/cmdline tests: run our binaries the way
//! an admin would.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Path of one of our binaries, built once per test process so tests never
/// run a stale copy.
pub fn bin(name: &str) -> PathBuf {
    diskless_tests::workspace_bin(name, name)
}

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

pub fn seed(name: &str) -> PathBuf {
    Path::new("/work/shared/seed").join(name)
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(bin_name: &str, args: &[&str]) -> Run {
    run_in(bin_name, args, None)
}

pub fn run_in(bin_name: &str, args: &[&str], cwd: Option<&Path>) -> Run {
    let mut cmd = Command::new(bin(bin_name));
    cmd.args(args);
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("spawn binary");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// A scratch directory removed on drop.
#[allow(unused_imports)]
pub use diskless_tests::TempDir;
