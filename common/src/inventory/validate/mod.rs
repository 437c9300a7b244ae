//! Raw TOML shape → validated `Inventory`, collecting every problem.
//!
//! One module per table: [`cluster`], [`network`] (relay subnets and what
//! a node address may be), [`node`], [`export`]; [`boot`] merges boot
//! settings across levels.

mod boot;
mod cluster;
mod export;
mod names;
mod network;
mod node;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use super::error::{LineIndex, Problem};
use super::file::{RawFile, S};
use super::model::Inventory;
use super::LoadOptions;

pub(crate) struct Ctx<'a> {
    origin: &'a str,
    index: LineIndex<'a>,
    pub problems: Vec<Problem>,
}

impl<'a> Ctx<'a> {
    pub fn new(origin: &'a str, text: &'a str) -> Self {
        Ctx {
            origin,
            index: LineIndex::new(text),
            problems: Vec::new(),
        }
    }

    pub fn err(&mut self, span: Range<usize>, message: String, hint: impl Into<Option<String>>) {
        let (line, col) = self.index.locate(span.start);
        self.problems.push(Problem {
            origin: self.origin.to_string(),
            line,
            col,
            message,
            hint: hint.into(),
        });
    }

    fn line_of(&self, span: &Range<usize>) -> usize {
        self.index.locate(span.start).0
    }

    fn ip(&mut self, v: &S<String>, what: &str) -> Option<Ipv4Addr> {
        match v.get_ref().parse() {
            Ok(ip) => Some(ip),
            Err(_) => {
                self.err(
                    v.span(),
                    format!("{what} `{}` is not an IPv4 address", v.get_ref()),
                    "write a dotted quad such as 172.16.1.10".to_string(),
                );
                None
            }
        }
    }

    fn abs_path(&mut self, v: &S<String>, what: &str) -> Option<PathBuf> {
        let p = Path::new(v.get_ref());
        if !p.is_absolute() {
            self.err(
                v.span(),
                format!("{what} `{}` is not an absolute path", v.get_ref()),
                format!("write it from the root, e.g. /{}", v.get_ref()),
            );
            return None;
        }
        if p.components().any(|c| c == Component::ParentDir) {
            self.err(
                v.span(),
                format!("{what} `{}` contains `..`", v.get_ref()),
                "write the path without `..` components".to_string(),
            );
            return None;
        }
        Some(p.to_path_buf())
    }

    /// A file below `boot_root` as served over TFTP/HTTP.
    fn boot_file(&mut self, v: &S<String>, what: &str) -> Option<String> {
        let s = v.get_ref();
        if s.is_empty() || s.starts_with('/') {
            self.err(
                v.span(),
                format!("{what} `{s}` must be a path relative to boot_root"),
                format!(
                    "write it as the node's TFTP client would ask for it, e.g. `{}`",
                    s.trim_start_matches('/')
                        .rsplit('/')
                        .next()
                        .filter(|x| !x.is_empty())
                        .unwrap_or("vmlinuz")
                ),
            );
            return None;
        }
        if Path::new(s).components().any(|c| c == Component::ParentDir) {
            self.err(
                v.span(),
                format!("{what} `{s}` escapes boot_root with `..`"),
                "keep boot files inside boot_root".to_string(),
            );
            return None;
        }
        Some(s.clone())
    }
}

pub(crate) fn build(ctx: &mut Ctx, raw: RawFile, opts: &LoadOptions) -> Option<Inventory> {
    let cl = cluster::cluster(ctx, &raw.cluster, opts.check_paths);
    let profiles: HashMap<String, boot::Partial> = raw
        .profiles
        .iter()
        .map(|(k, v)| (k.get_ref().clone(), boot::partial(ctx, v.get_ref())))
        .collect();
    let (mut cluster, base) = cl?;
    cluster.relay_subnets = network::relay_subnets(ctx, &raw.relay_subnets, &cluster);
    let nodes = node::nodes(ctx, &raw.nodes, &cluster, &base, &profiles);
    let exports = export::exports(ctx, &raw.exports, &cluster, &nodes, &profiles, opts);
    if !ctx.problems.is_empty() {
        return None;
    }
    Some(Inventory::from_parts(cluster, nodes, exports))
}
