//! Console log: one line per step, stamped with the time since boot
//! (`CLOCK_MONOTONIC`, same base as the kernel's printk stamps) so the boot
//! timeline reads straight off the serial console. Writes never panic: a
//! closed or broken console just drops the line. (No `tracing` here: PID 1
//! must stay small and its only sink is the console.)
//!
//! During the early boot lines are held in memory and written in one go
//! when init first waits ([`hold`], [`release`]): a serial console write
//! costs around a millisecond under emulation, and the stamps are taken when
//! each line is made, so the timeline stays exact.

use std::fmt::Arguments;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

static QUIET: AtomicBool = AtomicBool::new(false);
static HELD: Mutex<Option<Vec<u8>>> = Mutex::new(None);
/// Held output beyond this is written at once (a hang later must not hide it).
const HOLD_MAX: usize = 16 * 1024;

/// Starts the one kernel-log line init writes (the rest of the line is
/// its CLOCK_MONOTONIC time in seconds; the kernel adds its printk stamp).
pub const KMSG_PROBE: &str = "diskless-init: CLOCK_MONOTONIC at this line: ";

/// Holds console lines in memory until [`release`].
pub fn hold() {
    let mut h = HELD.lock().unwrap_or_else(|e| e.into_inner());
    h.get_or_insert_with(Vec::new);
}

/// Writes the held lines and stops holding.
pub fn release() {
    let held = HELD.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(buf) = held {
        let _ = std::io::stderr().write_all(&buf);
    }
}

/// Silences the console log (unit tests and `--check`).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Time since boot (`CLOCK_MONOTONIC`).
pub fn uptime() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// Seconds with six decimals, formatted with integers: float formatting is
/// a large piece of code, and under emulation the first run of any code
/// costs its translation, on the boot's critical path.
pub struct Secs(pub Duration);

impl std::fmt::Display for Secs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = format!("{}.{:06}", self.0.as_secs(), self.0.subsec_micros());
        f.pad(&s)
    }
}

/// Milliseconds with one decimal, formatted with integers (see [`Secs`]).
pub struct Millis(pub Duration);

impl std::fmt::Display for Millis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tenths = self.0.as_micros() / 100;
        write!(f, "{}.{}", tenths / 10, tenths % 10)
    }
}

fn emit(level: &str, args: Arguments<'_>) {
    if QUIET.load(Ordering::Relaxed) {
        return;
    }
    let line = format!("[{:>12}] diskless-init: {level}{args}\n", Secs(uptime()));
    let mut h = HELD.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(buf) = h.as_mut() {
        buf.extend_from_slice(line.as_bytes());
        if buf.len() >= HOLD_MAX {
            let _ = std::io::stderr().write_all(buf);
            buf.clear();
        }
        return;
    }
    drop(h);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_without_floats() {
        let d = Duration::new(2, 5_123_999);
        assert_eq!(format!("[{:>12}]", Secs(d)), "[    2.005123]");
        assert_eq!(Millis(d).to_string(), "2005.1");
        assert_eq!(Millis(Duration::from_micros(20_549)).to_string(), "20.5");
    }
}
