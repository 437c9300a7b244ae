//! The kernel's `ip=` parameter (Documentation/admin-guide/nfs/nfsroot.rst):
//! `ip=<client-ip>:<server-ip>:<gw-ip>:<netmask>:<hostname>:<device>:<autoconf>:<dns0-ip>:<dns1-ip>:<ntp0-ip>`
//! or one of the bare methods `dhcp`, `bootp`, `rarp`, `both`, `on`/`any`,
//! `off`/`none`.

use std::fmt;
use std::net::Ipv4Addr;

/// How the kernel autoconfigures the interface.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Autoconf {
    /// `off` or `none`: use only the static fields.
    Off,
    /// `on` or `any`: every protocol compiled in.
    Any,
    Dhcp,
    Bootp,
    Rarp,
    /// `both`: BOOTP and RARP.
    Both,
}

impl Autoconf {
    /// The kernel's spelling (`on`/`none` are written as `any`/`off`).
    pub fn as_str(self) -> &'static str {
        match self {
            Autoconf::Off => "off",
            Autoconf::Any => "any",
            Autoconf::Dhcp => "dhcp",
            Autoconf::Bootp => "bootp",
            Autoconf::Rarp => "rarp",
            Autoconf::Both => "both",
        }
    }

    pub fn parse(s: &str) -> Option<Autoconf> {
        Some(match s {
            "off" | "none" => Autoconf::Off,
            "on" | "any" => Autoconf::Any,
            "dhcp" => Autoconf::Dhcp,
            "bootp" => Autoconf::Bootp,
            "rarp" => Autoconf::Rarp,
            "both" => Autoconf::Both,
            _ => return None,
        })
    }
}

/// Names of the ten colon-separated fields, for error messages.
pub const FIELD_NAMES: [&str; 10] = [
    "client-ip",
    "server-ip",
    "gw-ip",
    "netmask",
    "hostname",
    "device",
    "autoconf",
    "dns0-ip",
    "dns1-ip",
    "ntp0-ip",
];

/// The long form of `ip=`. Empty fields are `None`.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct IpConfig {
    pub client: Option<Ipv4Addr>,
    pub server: Option<Ipv4Addr>,
    pub gateway: Option<Ipv4Addr>,
    pub netmask: Option<Ipv4Addr>,
    pub hostname: Option<String>,
    pub device: Option<String>,
    /// `None` (empty field) means `any` to the kernel.
    pub autoconf: Option<Autoconf>,
    pub dns0: Option<Ipv4Addr>,
    pub dns1: Option<Ipv4Addr>,
    pub ntp0: Option<Ipv4Addr>,
}

/// A parsed `ip=` value.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum IpParam {
    /// `ip=dhcp`, `ip=off`, …
    Method(Autoconf),
    Static(IpConfig),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpError {
    #[error("ip= field {index} ({name}) `{value}` is not an IPv4 address")]
    BadAddress {
        index: usize,
        name: &'static str,
        value: String,
    },
    #[error("ip= autoconf field `{0}` is not one of off, none, on, any, dhcp, bootp, rarp, both")]
    BadAutoconf(String),
    #[error("ip= has {0} fields; the kernel reads at most 10")]
    TooManyFields(usize),
}

impl IpParam {
    /// Strict: the first problem is an error (what the linter wants).
    pub fn parse(value: &str) -> Result<IpParam, IpError> {
        let (param, mut errors) = IpParam::parse_lenient(value);
        match errors.is_empty() {
            true => Ok(param),
            false => Err(errors.swap_remove(0)),
        }
    }

    /// What a booted kernel applied, field by field: a field that does not
    /// parse is left empty and reported, the others still count (the
    /// seed's `ip=…:::'off'` keeps its addresses), fields past the tenth
    /// are ignored. Problems come in the order [`IpParam::parse`] reports
    /// them. (diskless-init reads `/proc/cmdline` this way.)
    pub fn parse_lenient(value: &str) -> (IpParam, Vec<IpError>) {
        if !value.contains(':') {
            if let Some(m) = Autoconf::parse(value) {
                return (IpParam::Method(m), vec![]);
            }
        }
        let fields: Vec<&str> = value.split(':').collect();
        let mut errors = vec![];
        if fields.len() > FIELD_NAMES.len() {
            errors.push(IpError::TooManyFields(fields.len()));
        }
        let field = |i: usize| fields.get(i).copied().unwrap_or("");
        let autoconf = match field(6) {
            "" => None,
            v => Autoconf::parse(v).or_else(|| {
                errors.push(IpError::BadAutoconf(v.to_string()));
                None
            }),
        };
        let mut addr = |i: usize| -> Option<Ipv4Addr> {
            match field(i) {
                "" => None,
                v => v.parse().ok().or_else(|| {
                    errors.push(IpError::BadAddress {
                        index: i + 1,
                        name: FIELD_NAMES[i],
                        value: v.to_string(),
                    });
                    None
                }),
            }
        };
        let (client, server, gateway, netmask) = (addr(0), addr(1), addr(2), addr(3));
        let (dns0, dns1, ntp0) = (addr(7), addr(8), addr(9));
        let text = |i: usize| Some(field(i)).filter(|v| !v.is_empty()).map(str::to_string);
        let config = IpConfig {
            client,
            server,
            gateway,
            netmask,
            hostname: text(4),
            device: text(5),
            autoconf,
            dns0,
            dns1,
            ntp0,
        };
        (IpParam::Static(config), errors)
    }
}

fn opt<T: fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map(|v| v.to_string()).unwrap_or_default()
}

/// Always writes the first seven fields (so the autoconf method is explicit);
/// the DNS/NTP fields only when one of them is set.
impl fmt::Display for IpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}:{}:{}:{}:{}",
            opt(&self.client),
            opt(&self.server),
            opt(&self.gateway),
            opt(&self.netmask),
            opt(&self.hostname),
            opt(&self.device),
            self.autoconf.map(Autoconf::as_str).unwrap_or("")
        )?;
        let tail = [self.dns0, self.dns1, self.ntp0];
        if let Some(last) = tail.iter().rposition(Option::is_some) {
            for v in &tail[..=last] {
                write!(f, ":{}", opt(v))?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for IpParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpParam::Method(m) => f.write_str(m.as_str()),
            IpParam::Static(c) => c.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_round_trip_is_byte_exact() {
        let s = "172.16.1.10:172.16.1.1::255.255.255.0:cartman:eth0:off";
        let p = IpParam::parse(s).unwrap();
        let IpParam::Static(c) = &p else { panic!() };
        assert_eq!(c.client, Some(Ipv4Addr::new(172, 16, 1, 10)));
        assert_eq!(c.gateway, None);
        assert_eq!(c.hostname.as_deref(), Some("cartman"));
        assert_eq!(c.autoconf, Some(Autoconf::Off));
        assert_eq!(p.to_string(), s);
    }

    #[test]
    fn all_ten_fields() {
        let s = "10.0.0.2:10.0.0.1:10.0.0.254:255.255.255.0:n1:eth1:dhcp:10.0.0.53:10.0.0.54:10.0.0.123";
        let p = IpParam::parse(s).unwrap();
        let IpParam::Static(c) = &p else { panic!() };
        assert_eq!(c.ntp0, Some(Ipv4Addr::new(10, 0, 0, 123)));
        assert_eq!(p.to_string(), s);
    }

    #[test]
    fn dns_only_keeps_inner_empties() {
        let s = "10.0.0.2::::::off::10.0.0.54";
        assert_eq!(IpParam::parse(s).unwrap().to_string(), s);
    }

    #[test]
    fn short_fields_are_padded_to_autoconf() {
        let p = IpParam::parse("10.0.0.2:10.0.0.1").unwrap();
        assert_eq!(p.to_string(), "10.0.0.2:10.0.0.1:::::");
    }

    #[test]
    fn methods() {
        assert_eq!(
            IpParam::parse("dhcp").unwrap(),
            IpParam::Method(Autoconf::Dhcp)
        );
        assert_eq!(
            IpParam::parse("none").unwrap(),
            IpParam::Method(Autoconf::Off)
        );
        assert_eq!(IpParam::parse("on").unwrap().to_string(), "any");
    }

    #[test]
    fn quoted_off_is_rejected() {
        let e = IpParam::parse("172.16.1.10:172.16.1.1:172.16.1.255:255.255.255.0:::'off'")
            .unwrap_err();
        assert_eq!(e, IpError::BadAutoconf("'off'".into()));
    }

    #[test]
    fn lenient_keeps_the_good_fields() {
        let (p, errs) =
            IpParam::parse_lenient("172.16.1.10:172.16.1.1:172.16.1.255:255.255.255.0:::'off'");
        let IpParam::Static(c) = p else { panic!() };
        assert_eq!(c.client, Some(Ipv4Addr::new(172, 16, 1, 10)));
        assert_eq!(c.gateway, Some(Ipv4Addr::new(172, 16, 1, 255)));
        assert_eq!(c.autoconf, None);
        assert_eq!(errs, [IpError::BadAutoconf("'off'".into())]);

        let (p, errs) = IpParam::parse_lenient("x:10.0.0.1:::n9:eth0:off:::10.0.0.9:junk");
        let IpParam::Static(c) = p else { panic!() };
        assert_eq!(c.client, None);
        assert_eq!(c.server, Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(c.hostname.as_deref(), Some("n9"));
        assert_eq!(c.ntp0, Some(Ipv4Addr::new(10, 0, 0, 9)));
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(matches!(errs[0], IpError::TooManyFields(11)));

        for junk in ["", ":", "::::::::::::::", "\u{0}", "a:b:c"] {
            let _ = IpParam::parse_lenient(junk);
        }
    }

    #[test]
    fn bad_address_names_the_field() {
        let e = IpParam::parse("172.16.1.300:172.16.1.1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "ip= field 1 (client-ip) `172.16.1.300` is not an IPv4 address"
        );
        assert!(matches!(
            IpParam::parse("1:2:3:4:5:6:7:8:9:10:11"),
            Err(IpError::TooManyFields(11))
        ));
    }
}
