//! Tells diskless-server "services up" (with init's timings) so
//! `diskless-server status` can show the node as "init up".
//!
//! One small UDP datagram (`diskless_common::report`) to the server's HTTP
//! port number, answered by a short ack. Reporting never fails the boot:
//! every error is one console line, and the wait is bounded (three tries
//! of [`TIMEOUT`], only when the server is silent; a refused port fails at
//! once). By then every service is already spawned.
//!
//! Where to: `diskless.report=off|PORT|IP:PORT` on the kernel command line;
//! the address defaults to `diskless.server=`, then `nfsroot=`'s server,
//! then `ip=`'s server field; the port to 80 (the inventory's default
//! `http_port`; the server renders `diskless.report=` when it differs).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use diskless_common::cmdline::diskless::{DisklessArgs, ReportArg};
use diskless_common::cmdline::Cmdline;
use diskless_common::report::{Report, Stage, ACK};

use crate::sys::{Pid, Sys};
use crate::{info, warn};

/// Wait for the ack, per try.
pub const TIMEOUT: Duration = Duration::from_millis(250);
const TRIES: usize = 3;
const DEFAULT_PORT: u16 = 80;

/// Where the report goes, from the kernel command line; `None` when there
/// is no server to tell or reporting is off.
pub fn target(cmdline: &str) -> Option<SocketAddr> {
    let c = Cmdline::parse(cmdline);
    let d = DisklessArgs::from_cmdline(&c);
    let port = match d.report {
        Some(ReportArg::Off) => return None,
        Some(ReportArg::Addr(a)) => return Some(a),
        Some(ReportArg::Port(p)) => p,
        // Unparsable: `check-cmdline` says so; better silent than wrong.
        None if c.get("diskless.report").is_some() => return None,
        None => DEFAULT_PORT,
    };
    let from_nfsroot = || {
        let v = c.get("nfsroot")?;
        v.split_once(':')?.0.parse::<IpAddr>().ok()
    };
    let from_ip = || {
        c.get("ip")?
            .split(':')
            .nth(1)?
            .trim()
            .parse::<IpAddr>()
            .ok()
    };
    let server = d
        .server
        .map(IpAddr::V4)
        .or_else(from_nfsroot)
        .or_else(from_ip)?;
    Some(SocketAddr::new(server, port))
}

/// The datagram for "services up".
pub fn build(
    host: Option<String>,
    since_init: Duration,
    since_boot: Duration,
    running: usize,
) -> Vec<u8> {
    let mut r = Report::new(Stage::ServicesUp);
    // A hostname the wire format refuses is left out, not the report.
    r.host = host.filter(|h| {
        let mut t = Report::new(Stage::ServicesUp);
        t.host = Some(h.clone());
        t.emit().is_ok()
    });
    r.running = Some(running.min(u32::MAX as usize) as u32);
    r.timings = vec![
        ("init".into(), since_init.as_millis() as u64),
        ("boot".into(), since_boot.as_millis() as u64),
    ];
    r.emit()
        .unwrap_or_else(|_| b"diskless-report 1\nstage services-up\n".to_vec())
}

/// A report ready to go: where to, and the datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportJob {
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
    /// The minutely "alive" report: nothing on the console either way (a
    /// server that is down must not fill it; its status view shows the gap).
    pub quiet: bool,
}

/// How often a running node tells the server it is alive.
pub const ALIVE_EVERY: Duration = Duration::from_secs(60);

/// The "services up" report for this boot, or `None` when there is no
/// server to tell (or reporting is off).
pub fn job(sys: &dyn Sys, since_init: Duration, running: usize) -> Option<ReportJob> {
    let to = sys
        .read_file("/proc/cmdline")
        .ok()
        .and_then(|c| target(&c))?;
    let host = sys.hostname().ok().filter(|h| !h.is_empty());
    let bytes = build(host, since_init, sys.monotonic(), running);
    Some(ReportJob {
        to,
        bytes,
        quiet: false,
    })
}

/// The "alive" report: the same datagram with `stage alive` and the
/// services running now; the helper's pid, if one was started.
pub fn alive(sys: &mut dyn Sys, since_init: Duration, running: usize) -> Option<Pid> {
    let job = alive_job(sys, since_init, running)?;
    sys.spawn_report(&job).ok()
}

/// The "alive" datagram (`ms.init`/`ms.boot` are then the time since init
/// and kernel start), sent quietly.
pub fn alive_job(sys: &dyn Sys, since_init: Duration, running: usize) -> Option<ReportJob> {
    let mut job = job(sys, since_init, running)?;
    let mut r = Report::parse(&job.bytes).ok()?;
    r.stage = Stage::Alive;
    job.bytes = r.emit().ok()?;
    job.quiet = true;
    Some(job)
}

/// Called once, when every service has been spawned. The exchange runs in
/// a forked helper (as the clock does): a silent server must not hold up
/// PID 1's loop, which reaps and restarts services.
/// Returns the helper's pid, if one was started.
pub fn services_up(sys: &mut dyn Sys, since_init: Duration, running: usize) -> Option<Pid> {
    let job = job(sys, since_init, running)?;
    match sys.spawn_report(&job) {
        Ok(pid) => Some(pid),
        Err(e) => {
            warn!(
                "could not start the status report to {} ({e}); the boot goes on",
                job.to
            );
            None
        }
    }
}

/// Sends the report and waits for the ack (bounded); runs in the helper.
/// True when the server acknowledged it.
pub fn send(sys: &mut dyn Sys, job: &ReportJob) -> bool {
    let to = job.to;
    let mut last = String::from("no answer");
    for _ in 0..TRIES {
        match sys.udp_exchange(to, &job.bytes, TIMEOUT) {
            Ok(a) if a == ACK => {
                if !job.quiet {
                    info!("reported services up to diskless-server at {to}");
                }
                return true;
            }
            Ok(_) => last = "an answer that is not an ack".into(),
            Err(e) => last = e.to_string(),
        }
    }
    if job.quiet {
        return false;
    }
    warn!(
        "could not report services up to {to} ({last}); the boot goes on, \
         `diskless-server status` will not show this node as init up"
    );
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fake::{Call, FakeSys};

    #[test]
    fn target_from_the_command_line() {
        let seed = "root=/dev/nfs nfsroot=172.16.1.1:/home/common/cluster,vers=3,tcp \
                    ip=172.16.1.10:172.16.1.1::255.255.255.0:cartman:eth0:off";
        assert_eq!(target(seed), "172.16.1.1:80".parse().ok());
        assert_eq!(
            target(&format!("{seed} diskless.report=8080")),
            "172.16.1.1:8080".parse().ok()
        );
        assert_eq!(
            target(&format!("{seed} diskless.report=10.1.1.1:81")),
            "10.1.1.1:81".parse().ok()
        );
        assert_eq!(
            target(&format!("{seed} diskless.server=172.16.1.2")),
            "172.16.1.2:80".parse().ok()
        );
        assert_eq!(target(&format!("{seed} diskless.report=off")), None);
        assert_eq!(target(&format!("{seed} diskless.report=junk")), None);
        assert_eq!(
            target("ip=172.16.1.10:172.16.1.5::255.255.255.0::eth0:off"),
            "172.16.1.5:80".parse().ok()
        );
        assert_eq!(target("root=/dev/sda1 ip=dhcp"), None);
        assert_eq!(target(""), None);
    }

    #[test]
    fn datagram_parses_back() {
        let b = build(
            Some("cartman".into()),
            Duration::from_millis(398),
            Duration::from_millis(4211),
            3,
        );
        let r = Report::parse(&b).unwrap();
        assert_eq!(r.host.as_deref(), Some("cartman"));
        assert_eq!(
            (r.timing("init"), r.timing("boot")),
            (Some(398), Some(4211))
        );
        assert_eq!(r.running, Some(3));
        // A hostname the format refuses is dropped, the report still goes.
        let r = Report::parse(&build(
            Some("a b".into()),
            Duration::ZERO,
            Duration::ZERO,
            0,
        ));
        assert_eq!(r.unwrap().host, None);
    }

    fn fake(cmdline: Option<&str>) -> FakeSys {
        let mut s = FakeSys::default();
        if let Some(c) = cmdline {
            s.files.insert("/proc/cmdline".into(), c.into());
        }
        s
    }

    #[test]
    fn sends_once_when_acked() {
        let mut s = fake(Some("nfsroot=172.16.1.1:/r ip=172.16.1.10:::::eth0:off"));
        s.udp_reply = Some(Box::new(|req: &[u8], _| {
            Report::parse(req).ok().map(|_| ACK.to_vec())
        }));
        let j = job(&s, Duration::from_millis(5), 2).unwrap();
        let to: SocketAddr = "172.16.1.1:80".parse().unwrap();
        assert_eq!(j.to, to);
        assert!(send(&mut s, &j));
        assert_eq!(s.calls, [Call::Udp(to)]);
    }

    #[test]
    fn bounded_wait_when_nobody_answers() {
        let mut s = fake(Some("nfsroot=172.16.1.1:/r"));
        let t0 = s.mono;
        let j = job(&s, Duration::ZERO, 0).unwrap();
        assert!(!send(&mut s, &j));
        assert_eq!(s.calls.len(), TRIES);
        assert_eq!(s.mono - t0, TIMEOUT * TRIES as u32);
    }

    #[test]
    fn no_server_no_traffic() {
        let mut s = fake(None);
        services_up(&mut s, Duration::ZERO, 0);
        let mut s2 = fake(Some(
            "root=/dev/sda1 diskless.report=off nfsroot=1.2.3.4:/x",
        ));
        services_up(&mut s2, Duration::ZERO, 0);
        assert!(s.calls.is_empty() && s2.calls.is_empty());
    }

    #[test]
    fn pid1_only_forks_the_helper() {
        // The exchange (and its bounded wait) happens in the helper, so
        // PID 1's clock does not move and no datagram leaves from PID 1.
        let mut s = fake(Some("nfsroot=172.16.1.1:/r"));
        let t0 = s.mono;
        services_up(&mut s, Duration::ZERO, 1);
        let to: SocketAddr = "172.16.1.1:80".parse().unwrap();
        assert_eq!(s.calls, [Call::SpawnReport(to)]);
        assert_eq!(s.mono, t0);
    }

    #[test]
    fn alive_report_says_alive_and_is_bounded_too() {
        let mut s = fake(Some("nfsroot=172.16.1.1:/r"));
        let j = alive_job(&s, Duration::from_secs(61), 3).unwrap();
        assert!(j.quiet);
        let r = Report::parse(&j.bytes).unwrap();
        assert_eq!(r.stage, Stage::Alive);
        assert_eq!(r.running, Some(3));
        // A silent server: the same bounded wait, in the helper.
        assert!(!send(&mut s, &j));
        assert_eq!(s.calls.len(), TRIES);
        assert!(alive_job(&fake(None), Duration::ZERO, 0).is_none());
    }
}
