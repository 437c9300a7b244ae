//! A client's message as the policy reads it: decoded by dhcproto after a
//! structural check of our own, then reduced to the fields we decide on.
//!
//! The check exists because dhcproto trusts some option lengths
//! (`debug_assert!`s and a `len - 1`), so hostile bytes could panic a debug
//! build; we reject those packets before decoding, and catch any panic that
//! still escapes.

use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Decoder};

use diskless_common::inventory::Mac;

/// Fixed header (236) + magic cookie (4).
pub const MIN_LEN: usize = 240;
const MAGIC: [u8; 4] = [99, 130, 83, 99];

/// Why a packet was dropped as malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("shorter than a DHCP header")]
    Short,
    #[error("not a BOOTREQUEST")]
    NotRequest,
    #[error("no DHCP magic cookie")]
    NoMagic,
    #[error("not Ethernet (htype 1, hlen 6)")]
    NotEthernet,
    #[error("option {0} runs past the end of the packet")]
    Truncated(u8),
    #[error("option {0} has an impossible length")]
    BadLength(u8),
    #[error("no DHCP message type (option 53)")]
    NoMessageType,
    #[error("undecodable")]
    Undecodable,
}

/// Walks the option TLVs and rejects lengths dhcproto would mishandle.
fn check_options(opts: &[u8]) -> Result<(), Malformed> {
    let mut i = 0;
    let mut seen = [false; 256];
    while i < opts.len() {
        let code = opts[i];
        match code {
            0 => i += 1,
            255 => return Ok(()),
            _ => {
                let len = *opts.get(i + 1).ok_or(Malformed::Truncated(code))? as usize;
                if i + 2 + len > opts.len() {
                    return Err(Malformed::Truncated(code));
                }
                let fixed = match code {
                    53 | 52 => Some(1),
                    50 | 54 | 51 | 1 => Some(4),
                    57 => Some(2),
                    93 => Some(2),
                    94 => Some(3),
                    80 => Some(0),
                    151 => None,
                    152..=155 => Some(4),
                    _ => None,
                };
                let bad = match code {
                    81 => len < 3,
                    151 => len < 1,
                    _ => fixed.is_some_and(|f| f != len),
                };
                // A repeated guarded option would be concatenated (RFC 3396)
                // into a length we did not check.
                if bad || (seen[code as usize] && (fixed.is_some() || code == 81 || code == 151)) {
                    return Err(Malformed::BadLength(code));
                }
                seen[code as usize] = true;
                i += 2 + len;
            }
        }
    }
    Ok(())
}

/// Structural checks, then dhcproto's decoder (panic-proof).
pub fn decode(bytes: &[u8]) -> Result<Message, Malformed> {
    if bytes.len() < MIN_LEN {
        return Err(Malformed::Short);
    }
    if bytes[0] != 1 {
        return Err(Malformed::NotRequest);
    }
    if bytes[1] != 1 || bytes[2] != 6 {
        return Err(Malformed::NotEthernet);
    }
    if bytes[236..240] != MAGIC {
        return Err(Malformed::NoMagic);
    }
    check_options(&bytes[240..])?;
    let msg = std::panic::catch_unwind(|| Message::decode(&mut Decoder::new(bytes)))
        .map_err(|_| Malformed::Undecodable)?
        .map_err(|_| Malformed::Undecodable)?;
    if msg.opcode() != Opcode::BootRequest {
        return Err(Malformed::NotRequest);
    }
    Ok(msg)
}

/// Client firmware, from option 93 and user class 77.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    Bios,
    /// UEFI x64 (arch 6/7/9) or any other EFI type.
    Uefi,
    /// iPXE already running: give it the per-node script URL.
    Ipxe,
}

/// The request reduced to what the policy needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientInfo {
    pub kind: MessageType,
    pub mac: Mac,
    pub xid: u32,
    pub ciaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub broadcast: bool,
    pub requested_ip: Option<Ipv4Addr>,
    pub server_id: Option<Ipv4Addr>,
    /// Option 60 starts with `PXEClient`.
    pub pxe: bool,
    pub arch: Option<u16>,
    pub uuid: Option<Vec<u8>>,
    pub firmware: Firmware,
    pub hostname: Option<String>,
}

impl ClientInfo {
    pub fn from_message(msg: &Message) -> Result<ClientInfo, Malformed> {
        let opts = msg.opts();
        let kind = opts.msg_type().ok_or(Malformed::NoMessageType)?;
        let chaddr = msg.chaddr();
        let mac = Mac(chaddr
            .get(..6)
            .and_then(|s| s.try_into().ok())
            .ok_or(Malformed::NotEthernet)?);
        let pxe = matches!(opts.get(OptionCode::ClassIdentifier),
            Some(DhcpOption::ClassIdentifier(v)) if v.starts_with(b"PXEClient"));
        let arch = match opts.get(OptionCode::ClientSystemArchitecture) {
            Some(DhcpOption::ClientSystemArchitecture(a)) => Some(a.0),
            _ => None,
        };
        let ipxe = match opts.get(OptionCode::UserClass) {
            // RFC 3004 form is len-prefixed; iPXE sends the bare string.
            Some(DhcpOption::UserClass(v)) => {
                v == b"iPXE" || v.get(1..) == Some(b"iPXE".as_slice())
            }
            _ => false,
        };
        let firmware = if ipxe {
            Firmware::Ipxe
        } else {
            match arch {
                None | Some(0) => Firmware::Bios,
                Some(_) => Firmware::Uefi,
            }
        };
        Ok(ClientInfo {
            kind,
            mac,
            xid: msg.xid(),
            ciaddr: msg.ciaddr(),
            giaddr: msg.giaddr(),
            broadcast: msg.flags().broadcast(),
            requested_ip: match opts.get(OptionCode::RequestedIpAddress) {
                Some(DhcpOption::RequestedIpAddress(ip)) => Some(*ip),
                _ => None,
            },
            server_id: match opts.get(OptionCode::ServerIdentifier) {
                Some(DhcpOption::ServerIdentifier(ip)) => Some(*ip),
                _ => None,
            },
            pxe,
            arch,
            uuid: match opts.get(OptionCode::ClientMachineIdentifier) {
                Some(DhcpOption::ClientMachineIdentifier(u)) => Some(u.clone()),
                _ => None,
            },
            firmware,
            hostname: match opts.get(OptionCode::Hostname) {
                Some(DhcpOption::Hostname(h)) => Some(h.clone()),
                _ => None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_structural_garbage() {
        assert_eq!(decode(&[]).unwrap_err(), Malformed::Short);
        let mut p = vec![0u8; 240];
        assert_eq!(decode(&p).unwrap_err(), Malformed::NotRequest);
        p[0] = 1;
        p[1] = 1;
        p[2] = 6;
        assert_eq!(decode(&p).unwrap_err(), Malformed::NoMagic);
        p[236..240].copy_from_slice(&MAGIC);
        p.extend_from_slice(&[53, 5, 1]);
        assert_eq!(decode(&p).unwrap_err(), Malformed::Truncated(53));
    }

    #[test]
    fn rejects_lengths_dhcproto_would_trust() {
        for opts in [
            &[80u8, 1, 0][..],
            &[94, 1, 1],
            &[81, 1, 0],
            &[151, 0],
            &[53, 2, 1, 1],
            &[53, 1, 1, 53, 1, 1],
        ] {
            assert!(
                matches!(check_options(opts), Err(Malformed::BadLength(_))),
                "{opts:?}"
            );
        }
        assert!(check_options(&[53, 1, 1, 0, 0, 255, 9, 9]).is_ok());
    }
}
