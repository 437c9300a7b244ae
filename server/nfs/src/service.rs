//! One `Service` answers every RPC program we serve (portmap, MOUNT,
//! NFSv3) for one record at a time; io.rs feeds it from sockets.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::export::{normalize, ExportError, ExportSpec, ExportTable};
use crate::handle::Key;
use crate::nfs3::{self, Ctx};
use crate::portmap::Registry;
use crate::rpc::{self, Accept, Auth, Call, Cred, FrameError};
use crate::xdr::Writer;
use crate::{mount, portmap};

/// uid/gid used for AUTH_NONE callers.
pub const NOBODY: u32 = 65534;

pub struct Service {
    pub key: Key,
    pub exports: ExportTable,
    /// WRITE/COMMIT verifier: new at every start, so clients resend
    /// unstable writes a crashed server might have lost.
    pub verifier: [u8; 8],
    /// MOUNT's DUMP list: (client, path). In memory only.
    pub mounts: Mutex<BTreeSet<(IpAddr, String)>>,
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
            exports,
            verifier: v.to_be_bytes(),
            mounts: Mutex::new(BTreeSet::new()),
            registry: Registry::new(nfs_port),
        })
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
                    return Ok(());
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
                        return Ok(());
                    }
                    Auth::Other(_) => {
                        rpc::auth_error(&mut w, xid, 5); // AUTH_TOOWEAK
                        return Ok(());
                    }
                };
                let Some(proc_) = nfs3::procedure(call.proc_) else {
                    rpc::accepted(&mut w, xid, Accept::ProcUnavail, (0, 0));
                    return Ok(());
                };
                rpc::accepted(&mut w, xid, Accept::Success, (0, 0));
                let ctx = Ctx {
                    svc: self,
                    peer,
                    cred,
                    udp,
                };
                if proc_(&ctx, &mut call.args, &mut w).is_err() {
                    w.buf.truncate(start);
                    rpc::accepted(&mut w, xid, Accept::GarbageArgs, (0, 0));
                }
            }
            _ => rpc::accepted(&mut w, xid, Accept::ProgUnavail, (0, 0)),
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("NFS handle key {0}: {1}")]
    Key(String, std::io::Error),
    #[error(transparent)]
    Export(#[from] ExportError),
}
