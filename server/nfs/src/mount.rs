//! MOUNT v3 (RFC 1813 appendix I): NULL, MNT, DUMP, UMNT, UMNTALL, EXPORT.

use std::net::IpAddr;

use crate::rpc::{self, Accept, Call};
use crate::service::Service;
use crate::xdr::{self, Writer};

pub const PROGRAM: u32 = 100005;
pub const VERSION: u32 = 3;

const MNT3_OK: u32 = 0;
const MNT3ERR_NOENT: u32 = 2;
const MNT3ERR_ACCES: u32 = 13;

pub fn dispatch(svc: &Service, peer: IpAddr, call: &mut Call, w: &mut Writer) {
    let xid = call.xid;
    if call.vers != VERSION {
        rpc::accepted(w, xid, Accept::ProgMismatch, (VERSION, VERSION));
        return;
    }
    let start = w.len();
    rpc::accepted(w, xid, Accept::Success, (0, 0));
    let res: xdr::Result<()> = (|| {
        match call.proc_ {
            0 => {}
            1 => {
                let path = call.args.opaque(1024)?;
                mnt(svc, peer, path, w);
            }
            2 => {
                for (ip, path) in svc.mounts.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                    w.bool(true);
                    w.opaque(ip.to_string().as_bytes());
                    w.opaque(path.as_bytes());
                }
                w.bool(false);
            }
            3 => {
                let path = call.args.opaque(1024)?;
                let path = String::from_utf8_lossy(path).into_owned();
                svc.mounts
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&(peer, path));
            }
            4 => svc
                .mounts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|(ip, _)| *ip != peer),
            5 => {
                // Only the exports this caller may mount: no need to tell
                // strangers what we serve.
                for e in svc.exports().iter().filter(|e| e.allows(peer)) {
                    w.bool(true);
                    w.opaque(e.path.as_os_str().as_encoded_bytes());
                    w.bool(true);
                    w.opaque(peer.to_string().as_bytes());
                    w.bool(false);
                }
                w.bool(false);
            }
            _ => {
                w.buf.truncate(start);
                rpc::accepted(w, xid, Accept::ProcUnavail, (0, 0));
            }
        }
        Ok(())
    })();
    if res.is_err() {
        w.buf.truncate(start);
        rpc::accepted(w, xid, Accept::GarbageArgs, (0, 0));
    }
}

/// Handle of a directory below an export root: every component must be a
/// real directory (no symlinks, no `.`/`..`).
fn subdir_handle(svc: &Service, e: &crate::export::Export, rest: &[u8]) -> Option<Vec<u8>> {
    use std::os::fd::AsFd;
    let mut fd: Option<std::os::fd::OwnedFd> = None;
    for c in rest.split(|b| *b == b'/').filter(|c| !c.is_empty()) {
        crate::nfs3::component(c).ok()?;
        let dir = fd.as_ref().map_or(e.root_fd.as_fd(), |f| f.as_fd());
        let flags = rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY;
        fd = Some(crate::nfs3::open_at(dir, c, flags).ok()?);
    }
    match fd {
        None => Some(e.root_handle.clone()),
        Some(f) => {
            let k = crate::handle::kernel_handle(f.as_fd()).ok()?;
            (k.mount_id == e.mount_id)
                .then(|| crate::handle::seal(&svc.key, e.id, k.kind, &k.bytes))
        }
    }
}

fn mnt(svc: &Service, peer: IpAddr, path: &[u8], w: &mut Writer) {
    let exports = svc.exports();
    let Some((e, rest)) = exports.containing(path) else {
        tracing::info!(%peer, path = %String::from_utf8_lossy(path), "MOUNT refused: no such export");
        w.u32(MNT3ERR_NOENT);
        return;
    };
    if !e.allows(peer) {
        tracing::warn!(%peer, export = %e.path.display(), "MOUNT refused: node not in export list");
        w.u32(MNT3ERR_ACCES);
        return;
    }
    let Some(fh) = subdir_handle(svc, e, rest) else {
        w.u32(MNT3ERR_NOENT);
        return;
    };
    tracing::info!(%peer, path = %String::from_utf8_lossy(path), "MOUNT");
    svc.mounts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert((peer, String::from_utf8_lossy(path).into_owned()));
    if let Some(hook) = &svc.on_mount {
        hook(peer, &String::from_utf8_lossy(path));
    }
    w.u32(MNT3_OK);
    w.opaque(&fh);
    w.u32(1);
    w.u32(rpc::AUTH_SYS);
}
