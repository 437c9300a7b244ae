//! Sets the wall clock from the boot server with one SNTP exchange (RFC
//! 4330), replacing the seed's `date -s "'ssh …'"` line. At most three
//! requests inside the time budget; the boot goes on whatever happens.

use crate::plan::KernelCmdline;
use crate::sys::Sys;
use diskless_common::cmdline::Sntp;
use diskless_common::sntp::{self, Repr, Timestamp};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The time server, first found: init.toml's `[clock] server`,
/// `diskless.sntp=`, `diskless.server=`, `ip=` field 10 (NTP), the
/// `nfsroot=` server, `ip=` field 2, the DHCP boot server. `Err` names why
/// the clock is not to be set (`diskless.sntp=off`).
pub fn choose_server(
    configured: Option<IpAddr>,
    k: &KernelCmdline,
    dhcp_boot_server: Option<IpAddr>,
) -> Result<Option<(IpAddr, &'static str)>, &'static str> {
    let arg = match k.diskless.sntp {
        Some(Sntp::Off) => return Err("diskless.sntp=off"),
        Some(Sntp::Server(a)) => Some(a),
        None => None,
    };
    let v4 = |a: Option<std::net::Ipv4Addr>| a.map(IpAddr::V4);
    Ok([
        (configured, "init.toml"),
        (v4(arg), "diskless.sntp="),
        (v4(k.diskless.server), "diskless.server="),
        (v4(k.ip.ntp0), "ip= NTP field"),
        (v4(k.nfsroot.as_ref().and_then(|n| n.server)), "nfsroot="),
        (v4(k.ip.server), "ip= server field"),
        (dhcp_boot_server, "DHCP boot server"),
    ]
    .into_iter()
    .find_map(|(a, from)| a.map(|a| (a, from))))
}

/// `bootserver A.B.C.D` from `/proc/net/pnp` (written by the kernel's
/// DHCP/BOOTP client).
pub fn pnp_bootserver(pnp: &str) -> Option<IpAddr> {
    pnp.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        match (w.next(), w.next()) {
            (Some("bootserver"), Some(a)) => {
                a.parse().ok().filter(|a: &IpAddr| !a.is_unspecified())
            }
            _ => None,
        }
    })
}

/// The clock step of a boot: which server, how long to try, and where the
/// server came from (for the log line). Runs in a forked helper beside the
/// services (see [`crate::supervisor`]), so a silent server delays nothing;
/// services that must see the right time name `after = ["clock"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockJob {
    pub server: IpAddr,
    pub budget: Duration,
    pub from: String,
}

/// The `after` entry that waits for the clock step.
pub const DEPENDENCY: &str = "clock";

/// Does the job and logs the outcome; `true` when the clock was set.
pub fn run(sys: &mut dyn Sys, job: &ClockJob) -> bool {
    let before = sys.monotonic();
    match sync(sys, job.server, job.budget) {
        Ok(s) => {
            crate::info!(
                "clock set from {} (SNTP, server from {}): stepped {:+.3} s, round trip {:.1} ms, took {} ms",
                s.server,
                job.from,
                s.offset_ns as f64 / 1e9,
                s.delay_ns as f64 / 1e6,
                (sys.monotonic() - before).as_millis()
            );
            true
        }
        Err(e) => {
            crate::warn!("clock not set: {e}");
            false
        }
    }
}

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
    fn server_choice_order() {
        let k = |line: &str| KernelCmdline::read(line);
        let seed = k("root=/dev/nfsroot nfsroot=172.16.1.1:/home/common/cluster \
                      ip=172.16.1.10:172.16.1.9:172.16.1.255:255.255.255.0:::'off'");
        assert_eq!(
            choose_server(None, &seed, None),
            Ok(Some(("172.16.1.1".parse().unwrap(), "nfsroot=")))
        );
        assert_eq!(seed.notes.len(), 1, "{:?}", seed.notes);
        let full =
            k("ip=10.0.0.5:10.0.0.1::255.0.0.0:n5:eth0:off:::10.0.0.9 diskless.server=10.0.0.7");
        assert_eq!(
            choose_server(None, &full, None),
            Ok(Some(("10.0.0.7".parse().unwrap(), "diskless.server=")))
        );
        let cfg = Some("10.9.9.9".parse().unwrap());
        assert_eq!(
            choose_server(cfg, &full, None).unwrap().unwrap().1,
            "init.toml"
        );
        let only_ip = k("ip=10.0.0.5:10.0.0.1::255.0.0.0");
        assert_eq!(
            choose_server(None, &only_ip, None).unwrap().unwrap().1,
            "ip= server field"
        );
        let dhcp = k("ip=dhcp");
        let boot = pnp_bootserver("bootserver 10.1.1.1\n");
        assert_eq!(
            choose_server(None, &dhcp, boot).unwrap().unwrap().1,
            "DHCP boot server"
        );
        assert_eq!(choose_server(None, &dhcp, None), Ok(None));
        assert!(choose_server(cfg, &k("nfsroot=10.0.0.1:/r diskless.sntp=off"), None).is_err());
        assert_eq!(
            choose_server(None, &k("diskless.sntp=10.0.0.3 nfsroot=10.0.0.1:/r"), None)
                .unwrap()
                .unwrap()
                .1,
            "diskless.sntp="
        );
    }

    #[test]
    fn pnp() {
        let t = "#PROTO: DHCP\ndomain example\nnameserver 10.0.0.1\nbootserver 10.0.0.2\n";
        assert_eq!(pnp_bootserver(t), Some("10.0.0.2".parse().unwrap()));
        assert_eq!(pnp_bootserver("bootserver 0.0.0.0\n"), None);
        assert_eq!(pnp_bootserver("bootserver junk\n"), None);
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
