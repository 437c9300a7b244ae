//! Sets the wall clock from the boot server with one SNTP exchange (RFC
//! 4330), replacing the seed's `date -s "'ssh …'"` line. At most three
//! requests inside the time budget; the boot goes on whatever happens.

use crate::sys::Sys;
use diskless_common::sntp::{self, Repr, Timestamp};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// A successful step of the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockStep {
    pub server: SocketAddr,
    /// How far the clock moved, in nanoseconds (positive: forward).
    pub offset_ns: i128,
    pub delay_ns: i128,
}

#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    #[error("no usable SNTP reply from {server} within {budget:?} (last problem: {last}); is the server's SNTP responder running?")]
    NoReply {
        server: SocketAddr,
        budget: Duration,
        last: String,
    },
    #[error("could not set the clock: {0}")]
    Set(std::io::Error),
}

fn add_signed(t: Duration, ns: i128) -> Duration {
    let v = (t.as_nanos() as i128 + ns).max(0);
    Duration::new((v / 1_000_000_000) as u64, (v % 1_000_000_000) as u32)
}

/// One SNTP exchange with `server`, then `clock_settime`.
pub fn sync(sys: &mut dyn Sys, server: IpAddr, budget: Duration) -> Result<ClockStep, ClockError> {
    let addr = SocketAddr::new(server, sntp::PORT);
    let start = sys.monotonic();
    let mut last = String::from("no attempt");
    for _ in 0..3 {
        let spent = sys.monotonic().saturating_sub(start);
        if spent >= budget {
            break;
        }
        let wait = (budget - spent).min(budget / 3 + Duration::from_millis(1));
        let t1 = Timestamp::from_unix(sys.realtime());
        let reply = match sys.udp_exchange(addr, &Repr::client_request(t1).to_bytes(), wait) {
            Ok(r) => r,
            Err(e) => {
                last = e.to_string();
                continue;
            }
        };
        let t4 = Timestamp::from_unix(sys.realtime());
        let repr = match Repr::parse_bytes(&reply) {
            Ok(r) => r,
            Err(e) => {
                last = e.to_string();
                continue;
            }
        };
        if let Err(e) = repr.check_reply(t1) {
            last = e.to_string();
            continue;
        }
        let Some((offset_ns, delay_ns)) =
            sntp::offset_and_delay(t1, repr.receive_ts, repr.transmit_ts, t4)
        else {
            last = "timestamps out of range".into();
            continue;
        };
        let target = add_signed(sys.realtime(), offset_ns);
        sys.set_realtime(target).map_err(ClockError::Set)?;
        return Ok(ClockStep {
            server: addr,
            offset_ns,
            delay_ns,
        });
    }
    Err(ClockError::NoReply {
        server: addr,
        budget,
        last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fake::{Call, FakeSys, UdpReply};

    const HOST_NOW: u64 = 1_790_000_000; // 2026

    fn responder() -> UdpReply {
        Box::new(|req, _| {
            let r = Repr::parse_bytes(req).ok()?;
            let now = Timestamp::from_unix(Duration::from_secs(HOST_NOW));
            Some(
                Repr::server_reply(&r, 1, *b"LOCL", now, now)
                    .to_bytes()
                    .to_vec(),
            )
        })
    }

    #[test]
    fn steps_clock_to_server_time() {
        let mut sys = FakeSys::new();
        sys.udp_reply = Some(responder());
        let step = sync(
            &mut sys,
            "172.16.1.1".parse().unwrap(),
            Duration::from_secs(1),
        )
        .unwrap();
        let set = sys.calls.iter().find_map(|c| match c {
            Call::SetRealtime(t) => Some(*t),
            _ => None,
        });
        let set = set.unwrap().as_secs_f64();
        assert!((set - HOST_NOW as f64).abs() < 0.01, "{set}");
        assert!(step.offset_ns > 0);
        assert_eq!(step.server.port(), 123);
    }

    #[test]
    fn silent_server_costs_only_the_budget() {
        let mut sys = FakeSys::new();
        let t0 = sys.mono;
        let e = sync(
            &mut sys,
            "172.16.1.1".parse().unwrap(),
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(matches!(e, ClockError::NoReply { .. }));
        assert!(
            sys.mono - t0 <= Duration::from_millis(1010),
            "{:?}",
            sys.mono - t0
        );
        assert!(!sys.calls.iter().any(|c| matches!(c, Call::SetRealtime(_))));
    }

    #[test]
    fn garbage_and_foreign_replies_are_ignored() {
        let mut sys = FakeSys::new();
        sys.udp_reply = Some(Box::new(|req: &[u8], _| {
            if req.len() == 48 {
                Some(vec![0xff; 10])
            } else {
                None
            }
        }));
        let e = sync(
            &mut sys,
            "10.0.0.1".parse().unwrap(),
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert!(e.to_string().contains("too short"), "{e}");

        let mut sys = FakeSys::new();
        sys.udp_reply = Some(Box::new(|_: &[u8], _| {
            let t = Timestamp::from_unix(Duration::from_secs(HOST_NOW));
            let other = Repr::client_request(Timestamp::ZERO);
            Some(
                Repr::server_reply(&other, 2, *b"XXXX", t, t)
                    .to_bytes()
                    .to_vec(),
            )
        }));
        let e = sync(
            &mut sys,
            "10.0.0.1".parse().unwrap(),
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert!(e.to_string().contains("originate"), "{e}");
    }
}
