//! SNTP server side (RFC 4330 §5): answer client-mode requests with our
//! clock. The wire layer is `diskless_common::sntp`; this is the decision
//! (pure) and a small tokio loop.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diskless_common::sntp::{Mode, Repr, Timestamp, PACKET_LEN};

/// We serve the host's own clock, not one disciplined by a reference we can
/// vouch for: stratum 10 with reference id `LOCL`, as an NTP server's
/// local-clock fallback announces itself.
pub const STRATUM: u8 = 10;
pub const REFERENCE_ID: [u8; 4] = *b"LOCL";

/// The reply to one request, or `None` for anything that is not a
/// well-formed client (mode 3) request.
pub fn answer(request: &[u8], receive: Timestamp, transmit: Timestamp) -> Option<[u8; PACKET_LEN]> {
    let req = Repr::parse_bytes(request).ok()?;
    if req.mode != Mode::Client {
        return None;
    }
    Some(Repr::server_reply(&req, STRATUM, REFERENCE_ID, receive, transmit).to_bytes())
}

fn now() -> Timestamp {
    Timestamp::from_unix(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO),
    )
}

/// Serves SNTP on `bind` until the future is dropped.
pub async fn run(bind: SocketAddr) -> std::io::Result<()> {
    let sock = tokio::net::UdpSocket::bind(bind).await?;
    tracing::info!(%bind, "SNTP server listening");
    run_on(sock).await
}

/// Serves SNTP on an already bound socket.
pub async fn run_on(sock: tokio::net::UdpSocket) -> std::io::Result<()> {
    let mut buf = [0u8; 512];
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!("SNTP receive error: {e}");
                continue;
            }
        };
        let receive = now();
        if let Some(reply) = answer(&buf[..n], receive, now()) {
            if let Err(e) = sock.send_to(&reply, peer).await {
                tracing::debug!(%peer, "SNTP send failed: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_client_requests_only() {
        let t = |s| Timestamp {
            seconds: s,
            fraction: 0,
        };
        let req = Repr::client_request(t(100)).to_bytes();
        let rep = answer(&req, t(200), t(201)).unwrap();
        let r = Repr::parse_bytes(&rep).unwrap();
        assert_eq!(r.mode, Mode::Server);
        assert_eq!(r.originate_ts, t(100));
        assert_eq!((r.receive_ts, r.transmit_ts), (t(200), t(201)));
        assert_eq!(r.stratum, STRATUM);
        assert!(r.check_reply(t(100)).is_ok());
        // A server-mode packet (or our own reply looped back) gets nothing.
        assert!(answer(&rep, t(1), t(1)).is_none());
        assert!(answer(&req[..20], t(1), t(1)).is_none());
        let mut v0 = req;
        v0[0] = 0b00_000_011;
        assert!(answer(&v0, t(1), t(1)).is_none(), "version 0");
    }
}
