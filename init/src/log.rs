//! Console log: one line per step, stamped with the time since boot
//! (`CLOCK_MONOTONIC`, same base as the kernel's printk stamps) so the boot
//! timeline reads straight off the serial console. Writes never panic: a
//! closed or broken console just drops the line. (No `tracing` here: PID 1
//! must stay small and its only sink is the console.)

use std::fmt::Arguments;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static QUIET: AtomicBool = AtomicBool::new(false);

/// Silences the console log (unit tests and `--check`).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Seconds since boot.
pub fn uptime() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

fn emit(level: &str, args: Arguments<'_>) {
    if QUIET.load(Ordering::Relaxed) {
        return;
    }
    let line = format!("[{:>12.6}] diskless-init: {level}{args}\n", uptime());
    let _ = std::io::stderr().write_all(line.as_bytes());
}

pub fn info(args: Arguments<'_>) {
    emit("", args);
}

pub fn warn(args: Arguments<'_>) {
    emit("warning: ", args);
}

pub fn error(args: Arguments<'_>) {
    emit("error: ", args);
}

#[macro_export]
macro_rules! info {
    ($($t:tt)*) => { $crate::log::info(format_args!($($t)*)) };
}
#[macro_export]
macro_rules! warn {
    ($($t:tt)*) => { $crate::log::warn(format_args!($($t)*)) };
}
#[macro_export]
macro_rules! error {
    ($($t:tt)*) => { $crate::log::error(format_args!($($t)*)) };
}
