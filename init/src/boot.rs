//! The root stage: early boot from the plan, then the supervisor loop.

use crate::plan::{self, Facts, Step};
use crate::supervisor::Supervisor;
use crate::sys::Sys;
use crate::{error, info, mount_table, warn};
use std::time::Duration;

/// Everything up to the supervisor loop: mount `/proc`, gather facts, plan,
/// run the early steps. Returns the supervisor, ready to tick.
pub fn boot(sys: &mut dyn Sys) -> Supervisor {
    let t0 = sys.monotonic();
    boot_from(sys, t0)
}

/// [`boot`], timing the start-up from `t0` (PID 1: when `main` was entered).
pub fn boot_from(sys: &mut dyn Sys, t0: Duration) -> Supervisor {
    // Written when the supervisor first waits, after the first spawns.
    crate::log::hold();
    // Until every service is spawned, init goes before them: sshd's start
    // (≈0.5 s of CPU under emulation) must not slow the spawns after it.
    if let Err(e) = sys.set_own_priority(true) {
        warn!("could not raise init's priority for the start-up: {e}");
    }
    info!(
        "diskless-init {} starting (root stage; main() entered at {})",
        env!("CARGO_PKG_VERSION"),
        crate::log::Secs(t0)
    );
    if !sys.exists("/proc/self") {
        if let Some(m) = mount_table::early_mounts()
            .into_iter()
            .find(|m| m.args.target == "/proc")
        {
            plan::execute(
                sys,
                &[Step::Mount {
                    args: m.args,
                    mode: m.mode,
                    fallback: vec![],
                }],
            );
        }
    }
    let facts = Facts::gather(sys);
    info!(
        "read the command line, mounts and the root's configuration ({} probed paths exist)",
        facts.existing.len()
    );
    let plan = plan::plan(&facts);
    for n in &plan.notes {
        info!("{n}");
    }
    for e in &plan.errors {
        error!("{e}");
    }
    plan::execute(sys, &plan.steps);
    let now = sys.monotonic();
    info!(
        "early boot done in {} ms",
        crate::log::Millis(now.saturating_sub(t0))
    );
    if plan.services.is_empty() {
        warn!("no services to start: nothing listed in init.toml and none of rpcbind, gmond, sshd found");
    }
    Supervisor::new(plan, t0, now)
}

/// PID 1's body: never returns. `t0` is when `main` was entered.
pub fn run(sys: &mut dyn Sys, t0: Duration) -> ! {
    let mut sup = boot_from(sys, t0);
    loop {
        sup.tick(sys);
    }
}
