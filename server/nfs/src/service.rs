//! One `Service` answers every RPC program we serve (portmap, MOUNT,
//! NFSv3) for one record at a time; io.rs feeds it from sockets.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::dir_cache::DirCache;
use crate::export::{normalize, ExportError, ExportSpec, ExportTable};
use crate::handle::Key;
use crate::handle_cache::HandleCache;
use crate::nfs3::{self, Ctx, FileRange};
use crate::open_files::OpenFiles;
use crate::portmap::Registry;
use crate::rpc::{self, Accept, Auth, Call, Cred, FrameError};
use crate::xdr::Writer;
use crate::{mount, portmap};

/// `(client, mounted path)`, see [`Service::on_mount`].
pub type MountHook = Box<dyn Fn(IpAddr, &str) + Send + Sync>;

/// uid/gid used for AUTH_NONE callers.
pub const NOBODY: u32 = 65534;

pub struct Service {
    pub key: Key,
    /// Swapped whole by [`Service::reload`]; each call uses one snapshot.
    exports: RwLock<Arc<ExportTable>>,
    /// Regular files open for READ/WRITE, by handle.
    pub open_files: OpenFiles,
    /// Handles of directory entries by inode identity (READDIRPLUS).
    pub handles: HandleCache,
    /// Whole directory listings, kept consistent by inotify.
    pub dirs: DirCache,
    /// WRITE/COMMIT verifier: new at every start, so clients resend
    /// unstable writes a crashed server might have lost.
    pub verifier: [u8; 8],
    /// MOUNT's DUMP list: (client, path). In memory only.
    pub mounts: Mutex<BTreeSet<(IpAddr, String)>>,
    /// Called after every MNT answered OK (the server's per-node status).
    pub on_mount: Option<MountHook>,
    /// Port mappings answered when we own port 111.
    pub registry: Registry,
}

impl Service {
    /// Builds the service: loads (or creates) the handle key, opens exports.
    pub fn new(
        specs: &[ExportSpec],
        key_path: &Path,
        nfs_port: u16,
    ) -> Result<Service, ServiceError> {
        let key = Key::load_or_create(key_path)
            .map_err(|e| ServiceError::Key(key_path.display().to_string(), e))?;
        Self::with_key(specs, key, nfs_port)
    }

    pub fn with_key(
        specs: &[ExportSpec],
        key: Key,
        nfs_port: u16,
    ) -> Result<Service, ServiceError> {
        let exports = ExportTable::open(specs, &key)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let v = (now.as_nanos() as u64) ^ ((std::process::id() as u64) << 48);
        Ok(Service {
            key,
            exports: RwLock::new(Arc::new(exports)),
            open_files: OpenFiles::default(),
            handles: HandleCache::default(),
            dirs: DirCache::default(),
            verifier: v.to_be_bytes(),
            mounts: Mutex::new(BTreeSet::new()),
            on_mount: None,
            registry: Registry::new(nfs_port),
        })
    }

    /// The export table in force.
    pub fn exports(&self) -> Arc<ExportTable> {
        self.exports
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the export table (SIGHUP with a new inventory). Every
    /// check from the next call on uses the new table, so a node dropped
    /// from an export is refused at its next call. On error the old table
    /// stays.
    pub fn reload(&self, specs: &[ExportSpec]) -> Result<(), ExportError> {
        let table = self.prepare_exports(specs)?;
        self.set_exports(table);
        Ok(())
    }

    /// Opens a new export table without serving it yet (so a caller can
    /// check everything else before it commits to a reload).
    pub fn prepare_exports(&self, specs: &[ExportSpec]) -> Result<ExportTable, ExportError> {
        ExportTable::open(specs, &self.key)
    }

    /// Serves `table` from the next call on.
    pub fn set_exports(&self, table: ExportTable) {
        *self.exports.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(table);
        self.open_files.clear();
        self.handles.clear();
        self.dirs.clear();
    }

    /// Answers one call record into `out` (appended). An `Err` means the
    /// record is not an RPC call at all: the caller drops the connection.
    pub fn handle(
        &self,
        peer: IpAddr,
        udp: bool,
        record: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), FrameError> {
        self.answer(peer, udp, false, record, out).map(|_| ())
    }

    /// As [`Service::handle`]; with `zero_copy` a READ reply may end at the
    /// data's length word, and the returned range of the file follows it
    /// on the wire (then the XDR padding).
    pub fn answer(
        &self,
        peer: IpAddr,
        udp: bool,
        zero_copy: bool,
        record: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Option<FileRange>, FrameError> {
        let mut call = Call::parse(record)?;
        let peer = normalize(peer);
        let mut w = Writer::new(out);
        let start = w.len();
        let xid = call.xid;
        match call.prog {
            portmap::PROGRAM => portmap::dispatch(self, peer, &mut call, &mut w),
            mount::PROGRAM => mount::dispatch(self, peer, &mut call, &mut w),
            nfs3::PROGRAM => {
                if call.vers != nfs3::VERSION {
                    rpc::accepted(&mut w, xid, Accept::ProgMismatch, (3, 3));
                    return Ok(None);
                }
                let cred = match &call.auth {
                    Auth::Sys(c) => c.clone(),
                    Auth::None => Cred {
                        uid: NOBODY,
                        gid: NOBODY,
                        gids: vec![],
                    },
                    Auth::Other(rpc::AUTH_SYS) => {
                        rpc::auth_error(&mut w, xid, 1); // AUTH_BADCRED
                        return Ok(None);
                    }
                    Auth::Other(_) => {
                        rpc::auth_error(&mut w, xid, 5); // AUTH_TOOWEAK
                        return Ok(None);
                    }
                };
                let Some(proc_) = nfs3::procedure(call.proc_) else {
                    rpc::accepted(&mut w, xid, Accept::ProcUnavail, (0, 0));
                    return Ok(None);
                };
                rpc::accepted(&mut w, xid, Accept::Success, (0, 0));
                let exports = self.exports();
                let ctx = Ctx {
                    svc: self,
                    exports: &exports,
                    peer,
                    cred,
                    udp,
                    zero_copy: zero_copy && !udp,
                    deferred: Default::default(),
                };
                if proc_(&ctx, &mut call.args, &mut w).is_err() {
                    w.buf.truncate(start);
                    rpc::accepted(&mut w, xid, Accept::GarbageArgs, (0, 0));
                    return Ok(None);
                }
                return Ok(ctx.deferred.take());
            }
            _ => rpc::accepted(&mut w, xid, Accept::ProgUnavail, (0, 0)),
        }
        Ok(None)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("NFS handle key {0}: {1}")]
    Key(String, std::io::Error),
    #[error(transparent)]
    Export(#[from] ExportError),
}
