//! The `--fix` fragment: assignments that, merged with
//! `scripts/kconfig/merge_config.sh` and run through `olddefconfig`, make
//! the failing checks pass, dependencies included.

use serde::Serialize;

use crate::config::{Config, Tristate};
use crate::kconfig::{Eval, Tree};
use crate::rules::{self, Verdict};

#[derive(Clone, Debug, Default, Serialize)]
pub struct Fix {
    pub assignments: Vec<(String, Tristate)>,
    /// Requests that cannot be met by setting options (explained).
    pub unfixable: Vec<String>,
    /// True when dependencies came from a Kconfig tree, not the built-in table.
    pub from_source: bool,
}

/// Plan the fix for every failed required check of `verdict`.
pub fn plan(verdict: &Verdict, config: &Config, tree: Option<&Tree>) -> Fix {
    // Without MODULES an `=m` request cannot stick: ask for `=y` instead.
    let modules = config.get("MODULES") == Tristate::Y;
    let failed: Vec<(&str, Tristate)> = verdict
        .failed()
        .map(|c| {
            let want = c.need.min();
            let want = if want == Tristate::M && !modules {
                Tristate::Y
            } else {
                want
            };
            (c.symbols[0].as_str(), want)
        })
        .collect();
    match tree {
        Some(tree) => {
            let mut ev = Eval::new(tree, config);
            for (sym, want) in &failed {
                ev.plan(sym, *want);
            }
            Fix {
                assignments: ev.planned().to_vec(),
                unfixable: ev.unfixable.clone(),
                from_source: true,
            }
        }
        None => {
            let mut fix = Fix::default();
            let mut add = |sym: &str, want: Tristate| {
                if config.get(sym) >= want {
                    return;
                }
                match fix.assignments.iter_mut().find(|(s, _)| s == sym) {
                    Some(a) => a.1 = a.1.max(want),
                    None => fix.assignments.push((sym.to_string(), want)),
                }
            };
            for (sym, want) in &failed {
                for p in rules::prereqs(sym) {
                    add(p, Tristate::Y);
                }
                add(sym, *want);
            }
            fix
        }
    }
}

/// The fragment as text.
pub fn render(fix: &Fix, verdict: &Verdict) -> String {
    let mut s = format!(
        "# diskless-mkimage check-kernel --fix --boot {}\n",
        match verdict.boot {
            rules::Boot::Direct => "direct",
            rules::Boot::Initramfs => "initramfs",
        }
    );
    s.push_str(
        "# Apply: scripts/kconfig/merge_config.sh -m .config THIS_FILE && make olddefconfig\n",
    );
    if !fix.from_source && !fix.assignments.is_empty() {
        s.push_str("# Dependencies from a built-in table; pass --source DIR for exact ones.\n");
    }
    if fix.assignments.is_empty() && fix.unfixable.is_empty() {
        s.push_str("# Nothing to change: this config passes.\n");
    }
    for u in &fix.unfixable {
        s.push_str(&format!("# cannot fix: {u}\n"));
    }
    for (sym, v) in &fix.assignments {
        match v {
            Tristate::N => s.push_str(&format!("# CONFIG_{sym} is not set\n")),
            v => s.push_str(&format!("CONFIG_{sym}={v}\n")),
        }
    }
    s
}
