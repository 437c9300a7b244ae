//! `[[exports]]`: paths, access, who may mount, implicit root exports.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::super::file::{RawExport, S};
use super::super::model::{Access, Cluster, Export, Node};
use super::super::LoadOptions;
use super::boot::Partial;
use super::Ctx;

pub(super) fn exports(
    ctx: &mut Ctx,
    raw: &[S<RawExport>],
    cluster: &Cluster,
    nodes: &[Node],
    profiles: &HashMap<String, Partial>,
    opts: &LoadOptions,
) -> Vec<Export> {
    let root_of = |n: &Node| -> PathBuf {
        n.boot
            .nfs_root
            .clone()
            .unwrap_or_else(|| cluster.nfs_root.clone())
    };
    let is_root = |n: &Node, p: &Path| n.boot.nfs_root.as_deref().unwrap_or(&cluster.nfs_root) == p;
    let mut out: Vec<Export> = Vec::new();
    let mut seen: HashMap<PathBuf, Range<usize>> = HashMap::new();
    for se in raw {
        let e = se.get_ref();
        let Some(path) = ctx.abs_path(&e.path, "export path") else {
            continue;
        };
        if let Some(first) = seen.get(&path) {
            let line = ctx.line_of(first);
            ctx.err(
                e.path.span(),
                format!(
                    "export {} is listed twice (first on line {line})",
                    path.display()
                ),
                "merge the two [[exports]] entries".to_string(),
            );
            continue;
        }
        seen.insert(path.clone(), e.path.span());
        if opts.check_paths && !path.is_dir() {
            ctx.err(
                e.path.span(),
                format!("export path {} does not exist on this server", path.display()),
                format!(
                    "create it (mkdir -p {}) or fix `path`; use --no-path-check if this inventory is for another machine",
                    path.display()
                ),
            );
        }
        let access = match e.access.as_ref().map(|v| (v, v.get_ref().as_str())) {
            None | Some((_, "ro")) => Access::Ro,
            Some((_, "rw")) => Access::Rw,
            Some((v, other)) => {
                ctx.err(
                    v.span(),
                    format!("access `{other}` is not known"),
                    "use `ro` (read-only) or `rw` (read-write)".to_string(),
                );
                Access::Ro
            }
        };
        let mut allowed = vec![false; nodes.len()];
        match &e.nodes {
            None => allowed.iter_mut().for_each(|a| *a = true),
            Some(list) => {
                for who in list {
                    let w = who.get_ref().as_str();
                    if w == "*" {
                        allowed.iter_mut().for_each(|a| *a = true);
                    } else if profiles.contains_key(w) {
                        for (i, n) in nodes.iter().enumerate() {
                            if n.profile.as_deref() == Some(w) {
                                allowed[i] = true;
                            }
                        }
                    } else if let Some(i) = nodes.iter().position(|n| n.name == w) {
                        allowed[i] = true;
                    } else {
                        ctx.err(
                            who.span(),
                            format!(
                                "export {}: `{w}` is neither a node nor a profile",
                                path.display()
                            ),
                            "list node names, profile names or \"*\" for every node".to_string(),
                        );
                    }
                }
            }
        }
        let root = nodes.iter().any(|n| is_root(n, &path));
        for (i, n) in nodes.iter().enumerate() {
            if !allowed[i] && is_root(n, &path) {
                ctx.err(
                    se.span(),
                    format!(
                        "node `{}` boots from {} but may not mount it",
                        n.name,
                        path.display()
                    ),
                    format!(
                        "add `{}` (or its profile, or \"*\") to this export's nodes",
                        n.name
                    ),
                );
            }
        }
        out.push(Export {
            access,
            nodes: nodes
                .iter()
                .zip(&allowed)
                .filter(|(_, a)| **a)
                .map(|(n, _)| n.name.clone())
                .collect(),
            root: root || path == cluster.nfs_root,
            path,
        });
    }
    // Roots nobody listed are exported read-only to the nodes booting them.
    let mut roots: Vec<PathBuf> = vec![cluster.nfs_root.clone()];
    for n in nodes {
        if !roots.iter().any(|r| is_root(n, r)) {
            roots.push(root_of(n));
        }
    }
    for r in roots {
        if out.iter().any(|e| e.path == r) {
            continue;
        }
        out.push(Export {
            nodes: nodes
                .iter()
                .filter(|n| is_root(n, &r))
                .map(|n| n.name.clone())
                .collect(),
            path: r,
            access: Access::Ro,
            root: true,
        });
    }
    out
}
