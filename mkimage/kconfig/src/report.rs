//! The whole answer: both verdicts, fragment findings and the fix, as text
//! for people or JSON for CI.

use std::fmt::Write;

use serde::Serialize;

use crate::fix::Fix;
use crate::fragment::Unhonoured;
use crate::input::Source;
use crate::rules::{Boot, Level, Verdict};

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub source: Source,
    pub nic: Option<String>,
    /// The verdict that sets the exit code.
    pub boot: Boot,
    pub pass: bool,
    pub verdicts: Vec<Verdict>,
    pub fragment: Vec<Unhonoured>,
    pub fix: Option<Fix>,
    /// Kconfig lines that could not be read (with `--source`).
    pub kconfig_warnings: Vec<String>,
}

pub fn text(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "kernel config: {} ({})",
        r.source.path.display(),
        r.source.form
    );
    if let Some(v) = &r.source.kernel_version {
        let _ = writeln!(s, "kernel version: {v}");
    }
    if let Some(n) = &r.nic {
        let _ = writeln!(s, "NIC driver: {n}");
    }
    for v in &r.verdicts {
        let mark = if v.pass { "PASS" } else { "FAIL" };
        let chosen = if v.boot == r.boot { "  <- --boot" } else { "" };
        let _ = writeln!(s, "\n{}: {mark}{chosen}", v.boot.title());
        for c in &v.checks {
            let tag = match (c.ok, c.level) {
                (true, _) => "ok    ",
                (false, Level::Required) => "FAIL  ",
                (false, Level::Advice) => "advice",
            };
            let want = match c.need {
                crate::rules::Need::BuiltIn => "=y",
                crate::rules::Need::Present => "=y or =m",
            };
            let _ = writeln!(
                s,
                "  {tag} {}  (need {want}: {})",
                c.found.join(" / "),
                c.reason
            );
            for w in &c.why {
                let _ = writeln!(s, "         why: {w}");
            }
        }
        if !v.modules.is_empty() {
            let _ = writeln!(s, "  modules to load: {}", v.modules.join(" "));
        }
        if !v.module_files.is_empty() {
            let _ = writeln!(s, "  .ko files (load in this order):");
            for f in &v.module_files {
                let _ = writeln!(s, "    {f}");
            }
        }
        for n in &v.notes {
            let _ = writeln!(s, "  note: {n}");
        }
    }
    if !r.fragment.is_empty() {
        let _ = writeln!(s, "\nfragment options the config does not honour:");
        for u in &r.fragment {
            let _ = writeln!(s, "  {} requested, config has {}", u.requested, u.actual);
            for w in &u.why {
                let _ = writeln!(s, "    why: {w}");
            }
        }
    }
    let _ = writeln!(
        s,
        "\nverdict for --boot {}: {}",
        match r.boot {
            Boot::Direct => "direct",
            Boot::Initramfs => "initramfs",
        },
        if r.pass {
            "PASS".to_string()
        } else {
            "FAIL (run again with --fix for a fragment that repairs it)".to_string()
        }
    );
    s
}
