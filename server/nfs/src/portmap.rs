//! Portmap v2 (RFC 1833): the registry we answer from when we own port
//! 111, and the call that registers us with a system rpcbind otherwise.

use std::net::IpAddr;
use std::sync::Mutex;

use crate::rpc::{self, Accept, Call};
use crate::service::Service;
use crate::xdr::{self, Reader, Writer};

pub const PROGRAM: u32 = 100000;
pub const VERSION: u32 = 2;
pub const PORT: u16 = 111;
pub const TCP: u32 = 6;
pub const UDP: u32 = 17;

/// One mapping: (program, version, protocol, port).
pub type Mapping = (u32, u32, u32, u32);

pub struct Registry {
    maps: Mutex<Vec<Mapping>>,
}

/// Our own programs on `nfs_port` (MOUNT is served on the same port).
pub fn own_mappings(nfs_port: u16) -> Vec<Mapping> {
    let p = nfs_port as u32;
    let mut v = vec![
        (PROGRAM, VERSION, TCP, PORT as u32),
        (PROGRAM, VERSION, UDP, PORT as u32),
    ];
    for prog in [(crate::nfs3::PROGRAM, 3), (crate::mount::PROGRAM, 3)] {
        v.push((prog.0, prog.1, TCP, p));
        v.push((prog.0, prog.1, UDP, p));
    }
    v
}

impl Registry {
    pub fn new(nfs_port: u16) -> Registry {
        Registry {
            maps: Mutex::new(own_mappings(nfs_port)),
        }
    }

    pub fn getport(&self, prog: u32, vers: u32, prot: u32) -> u32 {
        let maps = self.maps.lock().unwrap_or_else(|e| e.into_inner());
        maps.iter()
            .find(|m| m.0 == prog && m.1 == vers && m.2 == prot)
            .map_or(0, |m| m.3)
    }

    fn set(&self, m: Mapping) -> bool {
        let mut maps = self.maps.lock().unwrap_or_else(|e| e.into_inner());
        if maps.iter().any(|x| x.0 == m.0 && x.1 == m.1 && x.2 == m.2) {
            return false;
        }
        maps.push(m);
        true
    }

    fn unset(&self, prog: u32, vers: u32) -> bool {
        let mut maps = self.maps.lock().unwrap_or_else(|e| e.into_inner());
        let n = maps.len();
        maps.retain(|x| !(x.0 == prog && x.1 == vers));
        maps.len() != n
    }
}

fn mapping(r: &mut Reader) -> xdr::Result<Mapping> {
    Ok((r.u32()?, r.u32()?, r.u32()?, r.u32()?))
}

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
            // SET / UNSET: only local daemons may change the table.
            1 => {
                let m = mapping(&mut call.args)?;
                w.bool(peer.is_loopback() && svc.registry.set(m));
            }
            2 => {
                let m = mapping(&mut call.args)?;
                w.bool(peer.is_loopback() && svc.registry.unset(m.0, m.1));
            }
            3 => {
                let m = mapping(&mut call.args)?;
                w.u32(svc.registry.getport(m.0, m.1, m.2));
            }
            4 => {
                for m in svc
                    .registry
                    .maps
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                {
                    w.bool(true);
                    for v in [m.0, m.1, m.2, m.3] {
                        w.u32(v);
                    }
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

/// A PMAPPROC_SET (or UNSET when `set` is false) call record for `m`.
pub fn registration_call(xid: u32, m: Mapping, set: bool) -> Vec<u8> {
    let mut v = Vec::new();
    let mut w = Writer::new(&mut v);
    rpc::emit_call(&mut w, xid, PROGRAM, VERSION, if set { 1 } else { 2 }, None);
    for x in [m.0, m.1, m.2, m.3] {
        w.u32(x);
    }
    v
}
