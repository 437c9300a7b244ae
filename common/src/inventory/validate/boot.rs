//! Boot settings per level (cluster, profile, node): checked once, merged
//! per node.

use std::path::PathBuf;

use super::super::file::{RawBoot, S};
use super::super::model::{BootMode, BootSpec};
use super::Ctx;

/// One level's boot settings, checked once (not once per node).
#[derive(Clone, Default)]
pub(super) struct Partial {
    kernel: Option<String>,
    initrd: Option<String>,
    cmdline: Option<String>,
    append: Option<String>,
    boot_mode: Option<BootMode>,
    nic: Option<String>,
    nfs_root: Option<PathBuf>,
    ip_device: Option<String>,
    init: Option<String>,
    modules: Option<Vec<String>>,
    overlay: Option<bool>,
}

pub(super) fn partial(ctx: &mut Ctx, b: &RawBoot) -> Partial {
    let s = |v: &Option<S<String>>| v.as_ref().map(|v| v.get_ref().clone());
    Partial {
        kernel: b.kernel.as_ref().and_then(|v| ctx.boot_file(v, "kernel")),
        initrd: b.initrd.as_ref().and_then(|v| ctx.boot_file(v, "initrd")),
        cmdline: s(&b.cmdline),
        append: s(&b.cmdline_append),
        boot_mode: b.boot_mode.as_ref().and_then(|v| match v.get_ref().as_str() {
            "direct" => Some(BootMode::Direct),
            "initramfs" => Some(BootMode::Initramfs),
            other => {
                ctx.err(
                    v.span(),
                    format!("boot_mode `{other}` is not known"),
                    "use `direct` (the kernel mounts the NFS root) or `initramfs` (our initramfs does)"
                        .to_string(),
                );
                None
            }
        }),
        nic: s(&b.nic),
        nfs_root: b.nfs_root.as_ref().and_then(|v| ctx.abs_path(v, "nfs_root")),
        ip_device: s(&b.ip_device),
        init: s(&b.init),
        modules: b
            .modules
            .as_ref()
            .map(|m| m.iter().map(|x| x.get_ref().clone()).collect()),
        overlay: b.overlay,
    }
}

pub(super) fn merge(levels: [&Partial; 3]) -> BootSpec {
    let pick = |f: fn(&Partial) -> &Option<String>| levels.iter().rev().find_map(|l| f(l).clone());
    let mut cmdline = pick(|l| &l.cmdline).unwrap_or_default();
    for l in levels {
        if let Some(a) = l.append.as_deref().filter(|a| !a.trim().is_empty()) {
            if !cmdline.is_empty() {
                cmdline.push(' ');
            }
            cmdline.push_str(a.trim());
        }
    }
    BootSpec {
        kernel: pick(|l| &l.kernel).unwrap_or_default(),
        initrd: pick(|l| &l.initrd),
        cmdline,
        boot_mode: levels
            .iter()
            .rev()
            .find_map(|l| l.boot_mode)
            .unwrap_or_default(),
        nic: pick(|l| &l.nic),
        nfs_root: levels.iter().rev().find_map(|l| l.nfs_root.clone()),
        ip_device: pick(|l| &l.ip_device),
        init: pick(|l| &l.init),
        modules: levels
            .iter()
            .rev()
            .find_map(|l| l.modules.clone())
            .unwrap_or_default(),
        overlay: levels.iter().rev().find_map(|l| l.overlay).unwrap_or(false),
    }
}
