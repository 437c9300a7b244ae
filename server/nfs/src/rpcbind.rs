//! Registration with a system rpcbind that already owns port 111.
//!
//! Debian's rpcbind only lets local daemons change its table over its
//! Unix socket (`/run/rpcbind.sock`, where it sees our uid): portmap v2
//! SET over UDP from 127.0.0.1 is refused unless it runs with `-L`. So we
//! send rpcbind v3 UNSET+SET there, and fall back to portmap v2 over UDP
//! (old portmap daemons) only when no such socket exists.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use crate::io::IoError;
use crate::portmap::{self, own_mappings};
use crate::rpc;
use crate::xdr::{Reader, Writer};

/// Where rpcbind listens for local registrations.
pub const LOCAL_SOCKETS: [&str; 2] = ["/run/rpcbind.sock", "/var/run/rpcbind.sock"];
const RPCBIND_V3: u32 = 3;
const RPCBPROC_SET: u32 = 1;
const RPCBPROC_UNSET: u32 = 2;

/// rpcbind's universal address of an IPv4 endpoint: `h1.h2.h3.h4.p1.p2`.
pub fn universal_addr(ip: Ipv4Addr, port: u16) -> String {
    let o = ip.octets();
    format!(
        "{}.{}.{}.{}.{}.{}",
        o[0],
        o[1],
        o[2],
        o[3],
        port >> 8,
        port & 0xff
    )
}

/// An rpcbind v3 SET (or UNSET) call record, without the record mark.
pub fn v3_call(xid: u32, set: bool, prog: u32, vers: u32, netid: &str, uaddr: &str) -> Vec<u8> {
    let mut v = Vec::new();
    let mut w = Writer::new(&mut v);
    let proc_ = if set { RPCBPROC_SET } else { RPCBPROC_UNSET };
    rpc::emit_call(&mut w, xid, portmap::PROGRAM, RPCBIND_V3, proc_, None);
    w.u32(prog);
    w.u32(vers);
    w.opaque(netid.as_bytes());
    w.opaque(uaddr.as_bytes());
    w.opaque(b"superuser");
    v
}

/// The boolean result of an accepted reply, `None` if it is anything else.
pub fn bool_reply(xid: u32, reply: &[u8]) -> Option<bool> {
    let mut r = Reader::new(reply);
    if r.u32().ok()? != xid || r.u32().ok()? != 1 || r.u32().ok()? != 0 {
        return None;
    }
    r.u32().ok()?;
    r.opaque(400).ok()?;
    if r.u32().ok()? != 0 {
        return None;
    }
    r.bool().ok()
}

/// Registers NFS v3 and MOUNT v3 on `nfs_port` (TCP and UDP) with the
/// running rpcbind, replacing stale entries from an earlier run.
pub fn register(addr: IpAddr, nfs_port: u16) -> Result<(), IoError> {
    match LOCAL_SOCKETS.iter().find(|p| Path::new(p).exists()) {
        Some(path) => register_local(path, addr, nfs_port),
        None => register_udp(nfs_port),
    }
}

fn register_local(path: &str, addr: IpAddr, nfs_port: u16) -> Result<(), IoError> {
    let e = |x: std::io::Error| IoError::Register(format!("{path}: {x}"));
    let mut s = UnixStream::connect(path).map_err(e)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(e)?;
    s.set_write_timeout(Some(Duration::from_secs(2)))
        .map_err(e)?;
    let ip = match addr {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    };
    let uaddr = universal_addr(ip, nfs_port);
    let mut xid = std::process::id() << 8;
    for prog in [crate::nfs3::PROGRAM, crate::mount::PROGRAM] {
        for netid in ["tcp", "udp"] {
            for set in [false, true] {
                xid = xid.wrapping_add(1);
                let mut rec = vec![0u8; 4];
                rec.extend(v3_call(xid, set, prog, 3, netid, &uaddr));
                let n = (rec.len() - 4) as u32 | 1 << 31;
                rec[..4].copy_from_slice(&n.to_be_bytes());
                s.write_all(&rec).map_err(e)?;
                let reply = read_record(&mut s).map_err(e)?;
                let ok = bool_reply(xid, &reply);
                if set && ok != Some(true) {
                    return Err(IoError::Register(format!(
                        "{path}: rpcbind refused program {prog} version 3 on {netid} {uaddr}"
                    )));
                }
            }
        }
    }
    tracing::info!(socket = path, addr = %uaddr, "nfs: registered with rpcbind");
    Ok(())
}

fn read_record(s: &mut UnixStream) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut h = [0u8; 4];
        s.read_exact(&mut h)?;
        let (last, len) = rpc::fragment_header(h);
        if out.len() + len > 64 * 1024 {
            return Err(std::io::Error::other("rpcbind reply too large"));
        }
        let at = out.len();
        out.resize(at + len, 0);
        s.read_exact(&mut out[at..])?;
        if last {
            return Ok(out);
        }
    }
}

/// Portmap v2 SET over UDP to 127.0.0.1:111.
fn register_udp(nfs_port: u16) -> Result<(), IoError> {
    let e = |x: std::io::Error| IoError::Register(x.to_string());
    let sock = UdpSocket::bind("127.0.0.1:0").map_err(e)?;
    sock.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(e)?;
    sock.connect("127.0.0.1:111").map_err(e)?;
    let mut buf = [0u8; 512];
    let mut xid = std::process::id() << 8;
    for m in own_mappings(nfs_port)
        .into_iter()
        .filter(|m| m.0 != portmap::PROGRAM)
    {
        for set in [false, true] {
            xid = xid.wrapping_add(1);
            sock.send(&portmap::registration_call(xid, m, set))
                .map_err(e)?;
            let n = sock.recv(&mut buf).map_err(e)?;
            if set && bool_reply(xid, &buf[..n]) != Some(true) {
                return Err(IoError::Register(format!(
                    "portmap at 127.0.0.1:111 refused mapping {m:?}"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn universal_addresses() {
        assert_eq!(universal_addr(Ipv4Addr::UNSPECIFIED, 2049), "0.0.0.0.8.1");
        assert_eq!(
            universal_addr(Ipv4Addr::new(172, 16, 1, 1), 111),
            "172.16.1.1.0.111"
        );
    }

    #[test]
    fn set_call_and_reply() {
        let call = v3_call(5, true, 100003, 3, "tcp", "0.0.0.0.8.1");
        let c = rpc::Call::parse(&call).unwrap();
        assert_eq!((c.prog, c.vers, c.proc_), (100000, 3, 1));
        let mut r = c.args;
        assert_eq!((r.u32(), r.u32()), (Ok(100003), Ok(3)));
        assert_eq!(r.opaque(64), Ok(&b"tcp"[..]));
        // xid 5, REPLY, ACCEPTED, AUTH_NONE verifier, SUCCESS, true
        let reply = [
            0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
        ];
        assert_eq!(bool_reply(5, &reply), Some(true));
        assert_eq!(bool_reply(6, &reply), None);
        assert_eq!(bool_reply(5, &reply[..20]), None);
    }
}
