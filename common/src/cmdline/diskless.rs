//! Our own `diskless.*` kernel arguments, read by diskless-init in the
//! initramfs stage (and by the root stage where noted). The kernel ignores
//! dotted parameters it does not know, so they are safe in any boot mode.
//!
//! | argument | meaning |
//! |---|---|
//! | `diskless.modules=a,b` | modules to load before the link comes up (NIC driver, `nfs`) |
//! | `diskless.overlay=tmpfs` | mount a tmpfs overlay over the read-only NFS root |
//! | `diskless.server=IP` | the diskless-server (SNTP, status); default: nfsroot's server |
//! | `diskless.timeout=SECS` | give up DHCP/mount after this long and reboot (default 60) |
//! | `diskless.debug` | verbose init logging on the console |
//! | `diskless.sntp=IP\|off` | root stage: the SNTP server to set the clock from, or no clock step |
//! | `diskless.config=PATH` | root stage: another `init.toml` |
//! | `diskless.stage=root\|initramfs` | which stage diskless-init runs (default: detected from `/`) |
//! | `diskless.report=off\|PORT\|IP:PORT` | root stage: where "services up" goes (default: the server's port 80) |

use std::net::{Ipv4Addr, SocketAddr};

/// `diskless.report=`: where diskless-init reports "services up".
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReportArg {
    Off,
    /// This UDP port on the server (`diskless.server=` or `nfsroot=`'s).
    Port(u16),
    Addr(SocketAddr),
}

/// `diskless.sntp=`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Sntp {
    Off,
    Server(Ipv4Addr),
}

/// `diskless.stage=`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum StageArg {
    Root,
    Initramfs,
}

use super::args::Cmdline;

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct DisklessArgs {
    pub modules: Vec<String>,
    pub overlay: bool,
    pub server: Option<Ipv4Addr>,
    pub timeout: Option<u32>,
    pub debug: bool,
    pub sntp: Option<Sntp>,
    /// `diskless.config=PATH` (absolute).
    pub config: Option<String>,
    pub stage: Option<StageArg>,
    pub report: Option<ReportArg>,
    /// `diskless.*` keys we do not know (reported by the linter).
    pub unknown: Vec<String>,
    /// Values we could not parse, as `(key, value)`.
    pub invalid: Vec<(String, String)>,
}

pub const KNOWN: [&str; 9] = [
    "diskless.modules",
    "diskless.overlay",
    "diskless.server",
    "diskless.timeout",
    "diskless.debug",
    "diskless.sntp",
    "diskless.config",
    "diskless.stage",
    "diskless.report",
];

impl DisklessArgs {
    pub fn from_cmdline(c: &Cmdline) -> DisklessArgs {
        let mut d = DisklessArgs::default();
        for a in c.args.iter().filter(|a| a.key.starts_with("diskless.")) {
            let v = a.value.as_deref().unwrap_or("");
            let bad = || d_invalid(&a.key, v);
            match a.key.as_str() {
                "diskless.modules" => {
                    d.modules = v
                        .split(',')
                        .filter(|m| !m.is_empty())
                        .map(str::to_string)
                        .collect()
                }
                "diskless.overlay" => match v {
                    "tmpfs" => d.overlay = true,
                    "none" | "" => d.overlay = false,
                    _ => d.invalid.push(bad()),
                },
                "diskless.server" => match v.parse() {
                    Ok(ip) => d.server = Some(ip),
                    Err(_) => d.invalid.push(bad()),
                },
                "diskless.timeout" => match v.parse() {
                    Ok(t) => d.timeout = Some(t),
                    Err(_) => d.invalid.push(bad()),
                },
                "diskless.debug" => d.debug = !matches!(v, "0" | "off"),
                "diskless.sntp" => match v {
                    "off" | "none" => d.sntp = Some(Sntp::Off),
                    _ => match v.parse() {
                        Ok(ip) => d.sntp = Some(Sntp::Server(ip)),
                        Err(_) => d.invalid.push(bad()),
                    },
                },
                "diskless.config" if v.starts_with('/') => d.config = Some(v.to_string()),
                "diskless.config" => d.invalid.push(bad()),
                "diskless.stage" => match v {
                    "root" => d.stage = Some(StageArg::Root),
                    "initramfs" => d.stage = Some(StageArg::Initramfs),
                    _ => d.invalid.push(bad()),
                },
                "diskless.report" => match v {
                    "off" => d.report = Some(ReportArg::Off),
                    _ => match (v.parse(), v.parse()) {
                        (Ok(p), _) => d.report = Some(ReportArg::Port(p)),
                        (_, Ok(a)) => d.report = Some(ReportArg::Addr(a)),
                        _ => d.invalid.push(bad()),
                    },
                },
                _ => d.unknown.push(a.key.clone()),
            }
        }
        d
    }

    /// Appends the set arguments to `c` in a fixed order.
    pub fn render_into(&self, c: &mut Cmdline) {
        if !self.modules.is_empty() {
            c.push("diskless.modules", Some(&self.modules.join(",")));
        }
        if self.overlay {
            c.push("diskless.overlay", Some("tmpfs"));
        }
        if let Some(s) = self.server {
            c.push("diskless.server", Some(&s.to_string()));
        }
        if let Some(t) = self.timeout {
            c.push("diskless.timeout", Some(&t.to_string()));
        }
        if self.debug {
            c.push("diskless.debug", None);
        }
        match self.sntp {
            Some(Sntp::Off) => {
                c.push("diskless.sntp", Some("off"));
            }
            Some(Sntp::Server(ip)) => {
                c.push("diskless.sntp", Some(&ip.to_string()));
            }
            None => {}
        }
        if let Some(p) = &self.config {
            c.push("diskless.config", Some(p));
        }
        match self.stage {
            Some(StageArg::Root) => {
                c.push("diskless.stage", Some("root"));
            }
            Some(StageArg::Initramfs) => {
                c.push("diskless.stage", Some("initramfs"));
            }
            None => {}
        }
        match self.report {
            Some(ReportArg::Off) => {
                c.push("diskless.report", Some("off"));
            }
            Some(ReportArg::Port(p)) => {
                c.push("diskless.report", Some(&p.to_string()));
            }
            Some(ReportArg::Addr(a)) => {
                c.push("diskless.report", Some(&a.to_string()));
            }
            None => {}
        }
    }
}

fn d_invalid(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_render_byte_exact() {
        let s = "diskless.modules=e1000,nfs diskless.overlay=tmpfs diskless.server=172.16.1.1 diskless.timeout=30 diskless.debug";
        let d = DisklessArgs::from_cmdline(&Cmdline::parse(s));
        assert_eq!(d.modules, ["e1000", "nfs"]);
        assert!(d.overlay && d.debug);
        assert_eq!(d.server, Some(Ipv4Addr::new(172, 16, 1, 1)));
        let mut c = Cmdline::default();
        d.render_into(&mut c);
        assert_eq!(c.to_string(), s);
    }

    #[test]
    fn unknown_and_invalid_are_kept() {
        let d = DisklessArgs::from_cmdline(&Cmdline::parse(
            "diskless.overlay=zram diskless.bogus=1 diskless.server=host",
        ));
        assert_eq!(d.unknown, ["diskless.bogus"]);
        assert_eq!(d.invalid.len(), 2);
    }

    #[test]
    fn root_stage_arguments() {
        let s =
            "diskless.sntp=172.16.1.1 diskless.config=/etc/diskless/node.toml diskless.stage=root";
        let d = DisklessArgs::from_cmdline(&Cmdline::parse(s));
        assert_eq!(d.sntp, Some(Sntp::Server(Ipv4Addr::new(172, 16, 1, 1))));
        assert_eq!(d.config.as_deref(), Some("/etc/diskless/node.toml"));
        assert_eq!(d.stage, Some(StageArg::Root));
        assert!(d.unknown.is_empty() && d.invalid.is_empty());
        let mut c = Cmdline::default();
        d.render_into(&mut c);
        assert_eq!(c.to_string(), s);

        let d = DisklessArgs::from_cmdline(&Cmdline::parse(
            "diskless.sntp=off diskless.stage=initramfs",
        ));
        assert_eq!(d.sntp, Some(Sntp::Off));
        assert_eq!(d.stage, Some(StageArg::Initramfs));
        let d = DisklessArgs::from_cmdline(&Cmdline::parse(
            "diskless.sntp=ntp.example diskless.config=relative.toml diskless.stage=late",
        ));
        assert_eq!(d.invalid.len(), 3, "{:?}", d.invalid);
        assert_eq!((d.sntp, d.config, d.stage), (None, None, None));
    }

    #[test]
    fn report_argument() {
        for (s, want) in [
            ("diskless.report=off", ReportArg::Off),
            ("diskless.report=8080", ReportArg::Port(8080)),
            (
                "diskless.report=172.16.1.1:8080",
                ReportArg::Addr("172.16.1.1:8080".parse().unwrap()),
            ),
        ] {
            let d = DisklessArgs::from_cmdline(&Cmdline::parse(s));
            assert_eq!(d.report, Some(want), "{s}");
            assert!(d.unknown.is_empty() && d.invalid.is_empty());
            let mut c = Cmdline::default();
            d.render_into(&mut c);
            assert_eq!(c.to_string(), s);
        }
        for bad in [
            "diskless.report=",
            "diskless.report=70000",
            "diskless.report=host:80",
        ] {
            let d = DisklessArgs::from_cmdline(&Cmdline::parse(bad));
            assert_eq!((d.report, d.invalid.len()), (None, 1), "{bad}");
        }
    }
}
