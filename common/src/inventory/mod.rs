//! The cluster inventory: file format, validated model and lookups.
//!
//! `model` holds the plain, validated data every service reads (no IO after
//! load). `file` is the TOML shape admins write, `validate` turns one into
//! the other and reports every problem as `file:line:col: message` + hint.
//! The format is documented in `docs/inventory.md`.

mod error;
mod file;
pub mod model;
mod validate;

use std::path::Path;

pub use error::{LoadError, Problem};
pub use model::*;

/// What loading checks beyond the file itself.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    /// Require every export path to exist as a directory on this machine
    /// (`diskless-server check` does; services loading an inventory for a
    /// test or another machine need not).
    pub check_paths: bool,
}

/// Read and validate an inventory file (no filesystem checks on exports).
pub fn load_file(path: &Path) -> Result<Inventory, LoadError> {
    load_file_with(path, &LoadOptions::default())
}

pub fn load_file_with(path: &Path, opts: &LoadOptions) -> Result<Inventory, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    load_str_with(&text, &path.display().to_string(), opts)
}

/// Validate inventory text; `origin` names it in error messages.
pub fn load_str(text: &str, origin: &str) -> Result<Inventory, LoadError> {
    load_str_with(text, origin, &LoadOptions::default())
}

pub fn load_str_with(text: &str, origin: &str, opts: &LoadOptions) -> Result<Inventory, LoadError> {
    let mut ctx = validate::Ctx::new(origin, text);
    let raw: file::RawFile = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let (msg, hint) = syntax_hint(e.message());
            ctx.err(span, msg, hint);
            return Err(LoadError::Invalid(ctx.problems));
        }
    };
    match validate::build(&mut ctx, raw, opts) {
        Some(inv) if ctx.problems.is_empty() => Ok(inv),
        _ => Err(LoadError::Invalid(ctx.problems)),
    }
}

/// toml's message, plus what to do for the mistakes admins actually make.
fn syntax_hint(msg: &str) -> (String, Option<String>) {
    let msg = msg.trim().to_string();
    let hint = if msg.starts_with("unknown field") {
        Some(
            "check the spelling against docs/inventory.md; the expected keys are listed above"
                .into(),
        )
    } else if msg.starts_with("missing field") {
        Some("add the key; docs/inventory.md lists what each table needs".into())
    } else if msg.contains("invalid type") {
        Some("quote strings (\"...\") and write lists as [\"a\", \"b\"]".into())
    } else if msg.contains("duplicate key") {
        Some("each key may appear once per table".into())
    } else {
        Some("see docs/inventory.md for the file format".into())
    };
    (msg, hint)
}

impl Inventory {
    /// The NFS root a node mounts as `/`.
    pub fn nfs_root_of<'a>(&'a self, node: &'a Node) -> &'a Path {
        node.boot
            .nfs_root
            .as_deref()
            .unwrap_or(&self.cluster.nfs_root)
    }

    /// The export serving a node's root filesystem.
    pub fn root_export_of(&self, node: &Node) -> Option<&Export> {
        let root = self.nfs_root_of(node);
        self.exports.iter().find(|e| e.path == root)
    }
}

#[cfg(test)]
mod tests;
