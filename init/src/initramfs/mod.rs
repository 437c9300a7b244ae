//! The initramfs stage (issue 9): PID 1 on the kernel's rootfs loads the
//! image's modules, brings the boot interface up, configures it from `ip=`
//! or its own DHCP client, mounts the NFS root read-only with a tmpfs
//! overlay on `/newroot`, and switches to it, exec'ing the real init. On
//! failure: a console message, an emergency shell if the image has
//! `/bin/sh`, then a reboot; PID 1 never exits. See `docs/initramfs.md`.

pub mod config;
pub mod dhcp_client;
pub mod link;
pub mod modules;
pub mod nfs_mount;
pub mod overlay;
pub mod switch_root;
pub mod syscalls;

use crate::sys::{Event, MountArgs, MountFlags as F, RebootCmd, SpawnSpec, Sys};
use crate::{error, info, warn};
use config::StageConfig;
use dhcp_client::Lease;
use std::net::Ipv4Addr;
use std::time::Duration;

/// proc, sysfs and devtmpfs, created and mounted if missing.
fn early_mounts(sys: &mut dyn Sys) {
    let m = [
        (
            "proc",
            "/proc",
            "proc",
            F::NOSUID | F::NODEV | F::NOEXEC,
            "",
        ),
        (
            "sysfs",
            "/sys",
            "sysfs",
            F::NOSUID | F::NODEV | F::NOEXEC,
            "",
        ),
        ("devtmpfs", "/dev", "devtmpfs", F::NOSUID, "mode=0755"),
    ];
    for (src, target, fs, flags, data) in m {
        if !sys.exists(target) {
            let _ = sys.mkdir(target, 0o755);
        }
        if let Err(e) = sys.mount(&MountArgs::new(src, target, fs, flags, data)) {
            warn!("mounting {fs} on {target}: {e}");
        }
    }
    sys.open_console();
}

/// The interface's address, from `ip=` or DHCP.
fn configure(sys: &mut dyn Sys, cfg: &StageConfig, ifname: &str) -> Result<Option<Lease>, String> {
    let (addr, mask, router, lease) = match &cfg.static_ip {
        Some(ip) => {
            let addr = ip.client.expect("static_ip has a client address");
            let mask = ip.netmask.unwrap_or(Ipv4Addr::new(255, 255, 255, 0));
            (addr, mask, ip.gateway, None)
        }
        None => {
            let l = dhcp_client::obtain(sys, ifname, cfg.timeout)?;
            (l.addr, l.mask, l.router, Some(l))
        }
    };
    sys.set_ipv4(ifname, addr, mask)
        .map_err(|e| format!("setting {addr}/{mask} on {ifname}: {e}"))?;
    if let Some(gw) = router {
        if let Err(e) = sys.add_default_route(gw) {
            warn!("default route via {gw}: {e}");
        }
    }
    info!(
        "{ifname}: {addr} netmask {mask}{}",
        router.map(|g| format!(" router {g}")).unwrap_or_default()
    );
    let name = cfg
        .hostname
        .clone()
        .or_else(|| lease.as_ref().and_then(|l| l.hostname.clone()));
    if let Some(n) = name {
        if let Err(e) = sys.sethostname(&n) {
            warn!("hostname {n}: {e}");
        }
    }
    Ok(lease)
}

/// Everything up to a mounted `/newroot`; returns the init to exec.
pub fn prepare(sys: &mut dyn Sys, cfg: &StageConfig) -> Result<String, String> {
    modules::load(sys, &cfg.modules)?;
    let ifname = link::bring_up(sys, cfg.device.as_deref(), cfg.timeout)?;
    let lease = configure(sys, cfg, &ifname)?;
    let spec = nfs_mount::root_spec(cfg, lease.as_ref())?;
    if cfg.overlay {
        for d in [overlay::LOWER, overlay::RW, overlay::NEW_ROOT] {
            let _ = sys.mkdir(d, 0o755);
        }
        nfs_mount::mount(
            sys,
            &nfs_mount::mount_args(&spec, overlay::LOWER, true),
            cfg.timeout,
        )?;
        overlay::mount(sys)?;
    } else {
        let _ = sys.mkdir(overlay::NEW_ROOT, 0o755);
        let args = nfs_mount::mount_args(&spec, overlay::NEW_ROOT, !cfg.rw);
        nfs_mount::mount(sys, &args, cfg.timeout)?;
    }
    switch_root::choose_init(sys, cfg.init.as_deref())
}

/// The emergency path: a shell on the console if the image has one, then
/// a reboot (a diskless node has no local state worth keeping).
fn emergency(sys: &mut dyn Sys) {
    if sys.exists("/bin/sh") {
        error!("starting /bin/sh on the console; exit it to reboot");
        let spec = SpawnSpec {
            argv: vec!["/bin/sh".into()],
            env: vec![("PATH".into(), "/sbin:/bin".into())],
            nice: 0,
        };
        if let Ok(pid) = sys.spawn(&spec) {
            loop {
                let ev = sys.wait_events(Some(Duration::from_secs(60)));
                if ev
                    .iter()
                    .any(|e| matches!(e, Event::Exited { pid: p, .. } if *p == pid))
                {
                    break;
                }
            }
        }
    } else {
        error!("no /bin/sh in the initramfs for an emergency shell; rebooting in 10 s");
        sys.sleep(Duration::from_secs(10));
    }
    sys.sync();
    if let Err(e) = sys.reboot(RebootCmd::Restart) {
        error!("reboot: {e}");
    }
}

/// PID 1's body in the initramfs: never returns.
pub fn run(sys: &mut dyn Sys) -> ! {
    early_mounts(sys);
    info!(
        "diskless-init {} starting (initramfs stage)",
        env!("CARGO_PKG_VERSION")
    );
    let line = sys.read_file("/proc/cmdline").unwrap_or_default();
    let cfg = StageConfig::from_cmdline(&line);
    for p in &cfg.problems {
        warn!("{p}");
    }
    loop {
        let err = match prepare(sys, &cfg) {
            Ok(init) => {
                info!("switching to the root, exec {init}");
                switch_root::switch(sys, &init)
            }
            Err(e) => e,
        };
        error!("boot failed: {err}");
        emergency(sys);
        // Only reached if reboot(2) failed: wait and try the whole stage again.
        sys.sleep(Duration::from_secs(30));
    }
}

#[cfg(test)]
mod tests;
