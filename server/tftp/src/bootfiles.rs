//! The boot-file tree as the services see it: name normalisation,
//! confinement and the memory cache in one call.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::cache::FileCache;
use crate::confine::{ConfineError, Root};
use crate::names::{self, NameError};

/// Why a name could not be served. `Refused` is a policy decision (logged
/// with the client address); `NotFound` is ordinary.
#[derive(thiserror::Error, Debug)]
pub enum ResolveError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("refused: {0}")]
    Refused(String),
    #[error("read error: {0}")]
    Io(String),
}

impl From<NameError> for ResolveError {
    fn from(e: NameError) -> Self {
        ResolveError::Refused(e.to_string())
    }
}

pub struct BootFiles {
    root: Root,
    /// Another name clients may use for the root (the inventory's
    /// `boot_root` when `--boot-root` points elsewhere).
    alias: Option<PathBuf>,
    cache: FileCache,
}

impl BootFiles {
    pub fn open(root: &Path, cache_bytes: u64) -> std::io::Result<BootFiles> {
        Ok(BootFiles {
            root: Root::open(root)?,
            alias: None,
            cache: FileCache::new(cache_bytes),
        })
    }

    /// Also strip `alias` as a leading prefix of requested names.
    pub fn with_alias(mut self, alias: &Path) -> BootFiles {
        self.alias = Some(alias.to_path_buf());
        self
    }

    pub fn root_path(&self) -> &Path {
        self.root.path()
    }

    /// Normalises a raw request name into the relative path used for
    /// lookups (and for generated-file matching).
    pub fn normalize(&self, raw: &[u8]) -> Result<String, ResolveError> {
        let mut roots = vec![self.root.path()];
        roots.extend(self.alias.as_deref());
        Ok(names::normalize(raw, &roots)?)
    }

    /// Reads a normalised name beneath the root.
    pub fn read(&self, rel: &str) -> Result<Bytes, ResolveError> {
        match self.root.open_file(rel) {
            Ok((f, m)) => self
                .cache
                .read(f, &m)
                .map_err(|e| ResolveError::Io(format!("{rel}: {e}"))),
            Err(ConfineError::NotFound) => Err(ResolveError::NotFound(rel.to_string())),
            Err(ConfineError::Io(e)) => Err(ResolveError::Io(format!("{rel}: {e}"))),
            Err(e) => Err(ResolveError::Refused(format!("{rel}: {e}"))),
        }
    }
}
