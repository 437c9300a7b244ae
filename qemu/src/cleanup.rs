//! Teardown on Ctrl-C: namespaces and processes registered here are removed
//! (processes killed by PID) when the user interrupts a run.
//!
//! Normal teardown happens in `Drop` impls; this only covers SIGINT/SIGTERM,
//! where destructors would not run.

use std::sync::{Mutex, Once};

static NAMESPACES: Mutex<Vec<String>> = Mutex::new(Vec::new());
static PIDS: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static DIRS: Mutex<Vec<std::path::PathBuf>> = Mutex::new(Vec::new());
static INSTALL: Once = Once::new();

fn install() {
    INSTALL.call_once(|| {
        // A test harness or the caller may already own the handler; then we rely
        // on Drop only.
        let _ = ctrlc::set_handler(|| {
            eprintln!("diskless-qemu: interrupted, cleaning up");
            run_all();
            std::process::exit(130);
        });
    });
}

/// Kills every registered process and deletes every registered namespace.
pub fn run_all() {
    let pids: Vec<u32> = std::mem::take(&mut *PIDS.lock().unwrap_or_else(|e| e.into_inner()));
    for pid in pids {
        kill_pid(pid);
    }
    let names: Vec<String> =
        std::mem::take(&mut *NAMESPACES.lock().unwrap_or_else(|e| e.into_inner()));
    for name in names {
        crate::netns::destroy(&name);
    }
    if std::env::var_os("DISKLESS_KEEP_RUNS").is_none() {
        let dirs = std::mem::take(&mut *DIRS.lock().unwrap_or_else(|e| e.into_inner()));
        for d in dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// A run directory removed on Ctrl-C (its owner removes it on drop).
pub(crate) fn register_dir(dir: &std::path::Path) {
    install();
    DIRS.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(dir.to_path_buf());
}

pub(crate) fn unregister_dir(dir: &std::path::Path) {
    DIRS.lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|d| d != dir);
}

pub(crate) fn register_netns(name: &str) {
    install();
    NAMESPACES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(name.to_string());
}

pub(crate) fn unregister_netns(name: &str) {
    NAMESPACES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|n| n != name);
}

pub(crate) fn register_pid(pid: u32) {
    install();
    PIDS.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
}

pub(crate) fn unregister_pid(pid: u32) {
    PIDS.lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|p| *p != pid);
}

/// SIGTERM, then SIGKILL after a short grace period. Never by name.
pub fn kill_pid(pid: u32) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let p = Pid::from_raw(pid as i32);
    if kill(p, Signal::SIGTERM).is_err() {
        return;
    }
    for _ in 0..20 {
        std::thread::sleep(std::time::Duration::from_millis(25));
        if kill(p, None).is_err() {
            return;
        }
        // Reap it if it is our child, so `kill(p, None)` stops succeeding.
        let _ = nix::sys::wait::waitpid(p, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
    }
    let _ = kill(p, Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(p, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
}
