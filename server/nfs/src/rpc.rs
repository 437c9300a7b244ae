//! ONC RPC v2 (RFC 5531): TCP record marking, call header parse, reply
//! header emit and AUTH_SYS credentials. No sockets here.

use crate::xdr::{self, Reader, Writer};

/// Largest record we accept: a 1 MiB WRITE plus headers. Anything bigger
/// is hostile or broken and closes the connection.
pub const MAX_RECORD: usize = (1 << 20) + 64 * 1024;

/// Last-fragment flag in the record-marking header.
const LAST_FRAGMENT: u32 = 1 << 31;

pub const AUTH_NONE: u32 = 0;
pub const AUTH_SYS: u32 = 1;

/// Why a record could not be framed or parsed as a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("RPC record of {0} bytes exceeds the {MAX_RECORD}-byte limit")]
    TooLarge(usize),
    #[error("RPC message is not a version-2 call")]
    NotACall,
    #[error("malformed RPC header: {0}")]
    Xdr(#[from] xdr::Error),
}

/// One record-marking fragment header: `(last, length)`.
pub fn fragment_header(word: [u8; 4]) -> (bool, usize) {
    let v = u32::from_be_bytes(word);
    (v & LAST_FRAGMENT != 0, (v & !LAST_FRAGMENT) as usize)
}

/// Checks that a record of `so_far` bytes may grow by `more`.
pub fn check_growth(so_far: usize, more: usize) -> Result<(), FrameError> {
    let total = so_far.saturating_add(more);
    if total > MAX_RECORD {
        return Err(FrameError::TooLarge(total));
    }
    Ok(())
}

/// Unix credentials (AUTH_SYS, RFC 5531 appendix A).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cred {
    pub uid: u32,
    pub gid: u32,
    pub gids: Vec<u32>,
}

impl Cred {
    /// Whether the caller belongs to group `gid`.
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.gids.contains(&gid)
    }
}

/// Credentials carried by a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    Sys(Cred),
    /// A flavor we do not implement (RPCSEC_GSS, …), or a broken AUTH_SYS body.
    Other(u32),
}

/// A parsed call header; `args` is the rest of the record.
#[derive(Debug)]
pub struct Call<'a> {
    pub xid: u32,
    pub prog: u32,
    pub vers: u32,
    pub proc_: u32,
    pub auth: Auth,
    pub args: Reader<'a>,
}

impl<'a> Call<'a> {
    pub fn parse(record: &'a [u8]) -> Result<Self, FrameError> {
        let mut r = Reader::new(record);
        let xid = r.u32()?;
        if r.u32()? != 0 || r.u32()? != 2 {
            return Err(FrameError::NotACall);
        }
        let prog = r.u32()?;
        let vers = r.u32()?;
        let proc_ = r.u32()?;
        let flavor = r.u32()?;
        let body = r.opaque(400)?;
        let _verf_flavor = r.u32()?;
        let _verf = r.opaque(400)?;
        let auth = match flavor {
            AUTH_NONE => Auth::None,
            AUTH_SYS => parse_auth_sys(body).map_or(Auth::Other(AUTH_SYS), Auth::Sys),
            f => Auth::Other(f),
        };
        Ok(Call {
            xid,
            prog,
            vers,
            proc_,
            auth,
            args: r,
        })
    }
}

fn parse_auth_sys(body: &[u8]) -> xdr::Result<Cred> {
    let mut r = Reader::new(body);
    let _stamp = r.u32()?;
    let _machine = r.opaque(255)?;
    let uid = r.u32()?;
    let gid = r.u32()?;
    let n = r.u32()? as usize;
    if n > 16 {
        return Err(xdr::Error::Invalid);
    }
    let mut gids = Vec::with_capacity(n);
    for _ in 0..n {
        gids.push(r.u32()?);
    }
    Ok(Cred { uid, gid, gids })
}

/// `accept_stat` values of an accepted reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    Success = 0,
    ProgUnavail = 1,
    ProgMismatch = 2,
    ProcUnavail = 3,
    GarbageArgs = 4,
    SystemErr = 5,
}

/// Writes an accepted-reply header; the procedure's result follows it.
/// `ProgMismatch` gets the supported version range `vers`.
pub fn accepted(w: &mut Writer, xid: u32, stat: Accept, vers: (u32, u32)) {
    w.u32(xid);
    w.u32(1); // REPLY
    w.u32(0); // MSG_ACCEPTED
    w.u32(AUTH_NONE);
    w.u32(0);
    w.u32(stat as u32);
    if stat == Accept::ProgMismatch {
        w.u32(vers.0);
        w.u32(vers.1);
    }
}

/// Writes a denied reply: AUTH_ERROR with `auth_stat` (e.g. 5 = too weak).
pub fn auth_error(w: &mut Writer, xid: u32, auth_stat: u32) {
    w.u32(xid);
    w.u32(1); // REPLY
    w.u32(1); // MSG_DENIED
    w.u32(1); // AUTH_ERROR
    w.u32(auth_stat);
}

/// Builds a call record (no record mark); used by the rpcbind registration
/// client and by tests.
pub fn emit_call(w: &mut Writer, xid: u32, prog: u32, vers: u32, proc_: u32, cred: Option<&Cred>) {
    w.u32(xid);
    w.u32(0);
    w.u32(2);
    w.u32(prog);
    w.u32(vers);
    w.u32(proc_);
    match cred {
        None => {
            w.u32(AUTH_NONE);
            w.u32(0);
        }
        Some(c) => {
            let mut body = Vec::new();
            let mut b = Writer::new(&mut body);
            b.u32(0);
            b.opaque(b"diskless");
            b.u32(c.uid);
            b.u32(c.gid);
            b.u32(c.gids.len() as u32);
            for g in &c.gids {
                b.u32(*g);
            }
            w.u32(AUTH_SYS);
            w.opaque(&body);
        }
    }
    w.u32(AUTH_NONE);
    w.u32(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_round_trip_with_auth_sys() {
        let mut v = Vec::new();
        let cred = Cred {
            uid: 1000,
            gid: 100,
            gids: vec![4, 24],
        };
        emit_call(&mut Writer::new(&mut v), 9, 100003, 3, 1, Some(&cred));
        v.extend_from_slice(&[0, 0, 0, 42]);
        let call = Call::parse(&v).unwrap();
        assert_eq!(
            (call.xid, call.prog, call.vers, call.proc_),
            (9, 100003, 3, 1)
        );
        assert_eq!(call.auth, Auth::Sys(cred));
        assert_eq!(call.args.rest(), &[0, 0, 0, 42]);
    }

    #[test]
    fn replies_and_garbage() {
        assert_eq!(fragment_header([0x80, 0, 0, 12]), (true, 12));
        assert_eq!(
            fragment_header([0x7f, 0xff, 0xff, 0xff]),
            (false, 0x7fff_ffff)
        );
        assert!(check_growth(MAX_RECORD - 1, 2).is_err());
        assert!(matches!(Call::parse(&[0; 3]), Err(FrameError::Xdr(_))));
        let reply = [0, 0, 0, 1, 0, 0, 0, 1];
        assert_eq!(Call::parse(&reply).unwrap_err(), FrameError::NotACall);
    }
}
