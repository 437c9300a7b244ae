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

use std::net::Ipv4Addr;

use super::args::Cmdline;

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct DisklessArgs {
    pub modules: Vec<String>,
    pub overlay: bool,
    pub server: Option<Ipv4Addr>,
    pub timeout: Option<u32>,
    pub debug: bool,
    /// `diskless.*` keys we do not know (reported by the linter).
    pub unknown: Vec<String>,
    /// Values we could not parse, as `(key, value)`.
    pub invalid: Vec<(String, String)>,
}

pub const KNOWN: [&str; 5] = [
    "diskless.modules",
    "diskless.overlay",
    "diskless.server",
    "diskless.timeout",
    "diskless.debug",
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
}
