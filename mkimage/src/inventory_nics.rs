//! NIC drivers named by an inventory's nodes: shared by `initramfs` (which
//! modules to pack) and `check-kernel` (which driver must be there).

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{bail, Context};

/// NIC drivers named by the inventory's nodes (optionally one profile).
pub fn inventory_nics(path: &Path, profile: Option<&str>) -> anyhow::Result<Vec<String>> {
    let inv = diskless_common::inventory::load_file(path)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("cannot load the inventory {}", path.display()))?;
    let nodes: Vec<_> = inv
        .nodes
        .iter()
        .filter(|n| profile.is_none_or(|p| n.profile.as_deref() == Some(p)))
        .collect();
    if let Some(p) = profile {
        if nodes.is_empty() {
            bail!(
                "no node in {} uses profile `{p}`: check the name",
                path.display()
            );
        }
    }
    let nics: BTreeSet<String> = nodes.iter().filter_map(|n| n.boot.nic.clone()).collect();
    if nics.is_empty() {
        bail!(
            "the selected nodes of {} set no `nic`: add one to the profile, or pass --nic/--all-nics",
            path.display()
        );
    }
    Ok(nics.into_iter().collect())
}
