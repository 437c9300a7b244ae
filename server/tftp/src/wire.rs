//! TFTP packets (RFC 1350, options RFC 2347): zero-copy parse, emit into a
//! caller's buffer. Knows nothing of sockets, files or time.

use thiserror::Error;

pub const OP_RRQ: u16 = 1;
pub const OP_WRQ: u16 = 2;
pub const OP_DATA: u16 = 3;
pub const OP_ACK: u16 = 4;
pub const OP_ERROR: u16 = 5;
pub const OP_OACK: u16 = 6;

/// Error codes of RFC 1350 and RFC 2347.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u16)]
pub enum ErrorCode {
    NotDefined = 0,
    FileNotFound = 1,
    AccessViolation = 2,
    DiskFull = 3,
    IllegalOperation = 4,
    UnknownTid = 5,
    FileExists = 6,
    NoSuchUser = 7,
    OptionRefused = 8,
}

impl ErrorCode {
    pub fn from_u16(v: u16) -> ErrorCode {
        match v {
            1 => ErrorCode::FileNotFound,
            2 => ErrorCode::AccessViolation,
            3 => ErrorCode::DiskFull,
            4 => ErrorCode::IllegalOperation,
            5 => ErrorCode::UnknownTid,
            6 => ErrorCode::FileExists,
            7 => ErrorCode::NoSuchUser,
            8 => ErrorCode::OptionRefused,
            _ => ErrorCode::NotDefined,
        }
    }
}

/// Transfer mode of a request. `mail` is obsolete and refused at parse time.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Octet,
    Netascii,
}

#[derive(Error, Debug, PartialEq, Eq)]
pub enum WireError {
    #[error("packet too short ({0} bytes)")]
    Truncated(usize),
    #[error("unknown opcode {0}")]
    UnknownOpcode(u16),
    #[error("request field is not NUL-terminated")]
    Unterminated,
    #[error("unsupported transfer mode {0:?}")]
    BadMode(String),
    #[error("option {0:?} has no value")]
    OptionWithoutValue(String),
}

/// A parsed packet borrowing from the datagram.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Packet<'a> {
    /// RRQ or WRQ (`write` tells which).
    Request {
        write: bool,
        filename: &'a [u8],
        mode: Mode,
        options: Vec<(&'a str, &'a str)>,
    },
    Data {
        block: u16,
        data: &'a [u8],
    },
    Ack {
        block: u16,
    },
    Error {
        code: ErrorCode,
        message: &'a [u8],
    },
    Oack {
        options: Vec<(&'a str, &'a str)>,
    },
}

fn u16_at(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

/// Splits NUL-terminated fields; a trailing field without NUL is an error.
fn fields(mut rest: &[u8]) -> Result<Vec<&[u8]>, WireError> {
    let mut out = Vec::new();
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(WireError::Unterminated)?;
        out.push(&rest[..end]);
        rest = &rest[end + 1..];
    }
    Ok(out)
}

/// Options are ASCII by RFC 2347; anything else is dropped rather than
/// failing the whole request (clients only lose the option).
fn options<'a>(pairs: &[&'a [u8]]) -> Result<Vec<(&'a str, &'a str)>, WireError> {
    let mut out = Vec::new();
    for chunk in pairs.chunks(2) {
        let name = std::str::from_utf8(chunk[0]).unwrap_or("");
        let Some(value) = chunk.get(1) else {
            // Some clients pad with an empty trailing field; tolerate it.
            if name.is_empty() {
                break;
            }
            return Err(WireError::OptionWithoutValue(name.to_string()));
        };
        if let (false, Ok(v)) = (name.is_empty(), std::str::from_utf8(value)) {
            out.push((name, v));
        }
    }
    Ok(out)
}

impl<'a> Packet<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Packet<'a>, WireError> {
        if buf.len() < 4 {
            // An OACK/ERROR can be 4 bytes; nothing valid is shorter.
            return Err(WireError::Truncated(buf.len()));
        }
        let op = u16_at(buf, 0);
        match op {
            OP_RRQ | OP_WRQ => {
                let f = fields(&buf[2..])?;
                if f.len() < 2 {
                    return Err(WireError::Unterminated);
                }
                let mode = match f[1].to_ascii_lowercase().as_slice() {
                    b"octet" => Mode::Octet,
                    b"netascii" => Mode::Netascii,
                    other => return Err(WireError::BadMode(String::from_utf8_lossy(other).into())),
                };
                Ok(Packet::Request {
                    write: op == OP_WRQ,
                    filename: f[0],
                    mode,
                    options: options(&f[2..])?,
                })
            }
            OP_DATA => Ok(Packet::Data {
                block: u16_at(buf, 2),
                data: &buf[4..],
            }),
            OP_ACK => Ok(Packet::Ack {
                block: u16_at(buf, 2),
            }),
            OP_ERROR => {
                let msg = &buf[4..];
                let end = msg.iter().position(|&b| b == 0).unwrap_or(msg.len());
                Ok(Packet::Error {
                    code: ErrorCode::from_u16(u16_at(buf, 2)),
                    message: &msg[..end],
                })
            }
            OP_OACK => Ok(Packet::Oack {
                options: options(&fields(&buf[2..])?)?,
            }),
            other => Err(WireError::UnknownOpcode(other)),
        }
    }
}

/// Writes a DATA header; the caller appends the payload.
pub fn emit_data_header(out: &mut Vec<u8>, block: u16) {
    out.extend_from_slice(&OP_DATA.to_be_bytes());
    out.extend_from_slice(&block.to_be_bytes());
}

pub fn emit_data(out: &mut Vec<u8>, block: u16, data: &[u8]) {
    emit_data_header(out, block);
    out.extend_from_slice(data);
}

pub fn emit_ack(out: &mut Vec<u8>, block: u16) {
    out.extend_from_slice(&OP_ACK.to_be_bytes());
    out.extend_from_slice(&block.to_be_bytes());
}

/// ERROR with a message; NULs inside the message are dropped so the packet
/// stays well-formed.
pub fn emit_error(out: &mut Vec<u8>, code: ErrorCode, message: &str) {
    out.extend_from_slice(&OP_ERROR.to_be_bytes());
    out.extend_from_slice(&(code as u16).to_be_bytes());
    out.extend(message.bytes().filter(|&b| b != 0));
    out.push(0);
}

pub fn emit_oack(out: &mut Vec<u8>, options: &[(&str, String)]) {
    out.extend_from_slice(&OP_OACK.to_be_bytes());
    for (k, v) in options {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
}

/// RRQ/WRQ, used by our benchmark client and tests.
pub fn emit_request(
    out: &mut Vec<u8>,
    write: bool,
    filename: &[u8],
    mode: Mode,
    options: &[(&str, String)],
) {
    out.extend_from_slice(&(if write { OP_WRQ } else { OP_RRQ }).to_be_bytes());
    out.extend_from_slice(filename);
    out.push(0);
    out.extend_from_slice(match mode {
        Mode::Octet => b"octet",
        Mode::Netascii => b"netascii",
    });
    out.push(0);
    for (k, v) in options {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrq_with_options() {
        let b = b"\x00\x01pxelinux.0\x00octet\x00blksize\x001468\x00tsize\x000\x00";
        let p = Packet::parse(b).unwrap();
        assert_eq!(
            p,
            Packet::Request {
                write: false,
                filename: b"pxelinux.0",
                mode: Mode::Octet,
                options: vec![("blksize", "1468"), ("tsize", "0")],
            }
        );
    }

    #[test]
    fn mode_is_case_insensitive_and_mail_refused() {
        let p = Packet::parse(b"\x00\x01f\x00NetASCII\x00").unwrap();
        assert!(matches!(
            p,
            Packet::Request {
                mode: Mode::Netascii,
                ..
            }
        ));
        assert_eq!(
            Packet::parse(b"\x00\x01f\x00mail\x00"),
            Err(WireError::BadMode("mail".into()))
        );
    }

    #[test]
    fn malformed_requests() {
        assert_eq!(Packet::parse(b"\x00\x01"), Err(WireError::Truncated(2)));
        assert_eq!(
            Packet::parse(b"\x00\x01file\x00octet"),
            Err(WireError::Unterminated)
        );
        assert_eq!(
            Packet::parse(b"\x00\x01file\x00"),
            Err(WireError::Unterminated)
        );
        assert_eq!(
            Packet::parse(b"\x00\x01f\x00octet\x00blksize\x00"),
            Err(WireError::OptionWithoutValue("blksize".into()))
        );
        assert_eq!(
            Packet::parse(b"\x00\x09\x00\x00"),
            Err(WireError::UnknownOpcode(9))
        );
    }

    #[test]
    fn data_ack_error_oack() {
        assert_eq!(
            Packet::parse(b"\x00\x03\xff\xffabc").unwrap(),
            Packet::Data {
                block: 65535,
                data: b"abc"
            }
        );
        assert_eq!(
            Packet::parse(b"\x00\x04\x00\x07").unwrap(),
            Packet::Ack { block: 7 }
        );
        assert_eq!(
            Packet::parse(b"\x00\x05\x00\x08no\x00").unwrap(),
            Packet::Error {
                code: ErrorCode::OptionRefused,
                message: b"no"
            }
        );
        assert_eq!(
            Packet::parse(b"\x00\x06tsize\x00123\x00").unwrap(),
            Packet::Oack {
                options: vec![("tsize", "123")]
            }
        );
    }

    #[test]
    fn emit_bytes() {
        let mut v = Vec::new();
        emit_data(&mut v, 0x0102, b"xy");
        assert_eq!(v, b"\x00\x03\x01\x02xy");
        v.clear();
        emit_ack(&mut v, 0);
        assert_eq!(v, b"\x00\x04\x00\x00");
        v.clear();
        emit_error(&mut v, ErrorCode::FileNotFound, "nope\0");
        assert_eq!(v, b"\x00\x05\x00\x01nope\x00");
        v.clear();
        emit_oack(&mut v, &[("blksize", "1468".into()), ("tsize", "9".into())]);
        assert_eq!(v, b"\x00\x06blksize\x001468\x00tsize\x009\x00");
    }

    #[test]
    fn request_roundtrip() {
        let mut v = Vec::new();
        let opts = [("windowsize", "16".to_string())];
        emit_request(&mut v, false, b"a/b", Mode::Octet, &opts);
        assert_eq!(
            Packet::parse(&v).unwrap(),
            Packet::Request {
                write: false,
                filename: b"a/b",
                mode: Mode::Octet,
                options: vec![("windowsize", "16")]
            }
        );
    }
}
