//! The status view on disk, so a restarted server still shows where every
//! node got to (a node that is up does not boot again to tell us).
//!
//! One small JSON file, rewritten (temp file + rename, so a crash leaves the
//! old or the new one, never half of each) when the view changed. A missing
//! file is an empty history; an unreadable or corrupt one is logged and
//! ignored: status is advisory and must never stop the server from serving.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Hit, InitReport, Stage, View};

/// Format version; a file with another version is ignored.
const VERSION: u32 = 1;

/// Files larger than this are not read (a status file for 10,000 nodes is
/// a few MiB).
const MAX_BYTES: u64 = 64 << 20;

#[derive(Serialize, Deserialize)]
struct File {
    version: u32,
    saved_ms: u64,
    nodes: Vec<Saved>,
}

/// What is kept of one node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    pub mac: String,
    pub ip: Ipv4Addr,
    pub stages: BTreeMap<Stage, Hit>,
    pub init: Option<InitReport>,
}

/// Saved stages by node address; used only while MAC and address still
/// match the inventory.
pub type Restored = HashMap<Ipv4Addr, Saved>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0} is larger than {MAX_BYTES} bytes; not a status file?")]
    TooBig(PathBuf),
    #[error("{0} is not a status file of this version: {1}")]
    Format(PathBuf, String),
    #[error("cannot write {0}: {1}")]
    Write(PathBuf, std::io::Error),
}

/// The saved history; a missing file is an empty one.
pub fn load(path: &Path) -> Result<Restored, StoreError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Restored::new()),
        Err(e) => return Err(StoreError::Read(path.into(), e)),
    };
    if meta.len() > MAX_BYTES {
        return Err(StoreError::TooBig(path.into()));
    }
    let text = std::fs::read(path).map_err(|e| StoreError::Read(path.into(), e))?;
    let file: File = serde_json::from_slice(&text)
        .map_err(|e| StoreError::Format(path.into(), e.to_string()))?;
    if file.version != VERSION {
        return Err(StoreError::Format(
            path.into(),
            format!("version {} (expected {VERSION})", file.version),
        ));
    }
    Ok(file.nodes.into_iter().map(|n| (n.ip, n)).collect())
}

/// The file's bytes for `view`: nodes with at least one stage.
pub fn encode(view: &View) -> Vec<u8> {
    let nodes = view
        .nodes
        .iter()
        .filter(|n| !n.stages.is_empty())
        .map(|n| Saved {
            mac: n.mac.clone(),
            ip: n.ip,
            stages: n.stages.clone(),
            init: n.init.clone(),
        })
        .collect();
    let file = File {
        version: VERSION,
        saved_ms: view.now_ms,
        nodes,
    };
    serde_json::to_vec_pretty(&file).unwrap_or_default()
}

/// Replaces `path` with `bytes` atomically (temp file in the same
/// directory, then rename).
pub fn save(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let err = |e| StoreError::Write(path.into(), e);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    // Per process: two servers pointed at one file must not share a temp.
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(err)
}

/// For the table: the newer of a live hit and a saved one.
pub fn newer(live: Option<&Hit>, saved: Option<&Hit>) -> Option<Hit> {
    match (live, saved) {
        (Some(l), Some(s)) if s.at_ms > l.at_ms => Some(s.clone()),
        (Some(l), _) => Some(l.clone()),
        (None, s) => s.cloned(),
    }
}

/// Writes the view to `path` every `every` when it changed, and once more
/// when `stop` turns true. Write errors are logged once per kind of
/// failure, not per tick.
pub async fn keep_saved(
    status: std::sync::Arc<super::Status>,
    path: PathBuf,
    every: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut last: Vec<u8> = Vec::new();
    let mut failing = false;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stopping = tokio::select! {
            _ = tick.tick() => false,
            _ = stop.wait_for(|s| *s) => true,
        };
        let mut view = status.view();
        // The save time alone is not a change.
        view.now_ms = 0;
        let bytes = encode(&view);
        // Nothing seen and nothing saved yet: no file to write.
        let nothing = view.nodes.iter().all(|n| n.stages.is_empty()) && last.is_empty();
        if bytes != last && !nothing {
            let mut stamped = status.view();
            stamped.nodes = view.nodes;
            match save(&path, &encode(&stamped)) {
                Ok(()) => {
                    last = bytes;
                    failing = false;
                }
                Err(e) if !failing => {
                    tracing::warn!("status: {e}; node history will not survive a restart");
                    failing = true;
                }
                Err(_) => {}
            }
        }
        if stopping {
            return Ok(());
        }
    }
}
