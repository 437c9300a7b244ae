//! `nfsroot=[<server-ip>:]<root-dir>[,<nfs-options>]`.

use std::fmt;
use std::net::Ipv4Addr;

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NfsRoot {
    /// `None` = the kernel uses the server from `ip=`/DHCP.
    pub server: Option<Ipv4Addr>,
    pub path: String,
    /// Mount options in order, e.g. `["vers=3", "tcp"]`.
    pub options: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NfsRootError {
    #[error("nfsroot= server `{0}` is not an IPv4 address (the kernel does not resolve names)")]
    BadServer(String),
    #[error("nfsroot= path `{0}` is not absolute")]
    RelativePath(String),
    #[error("nfsroot= is empty")]
    Empty,
}

impl NfsRoot {
    pub fn parse(value: &str) -> Result<NfsRoot, NfsRootError> {
        let (spec, opts) = match value.split_once(',') {
            Some((s, o)) => (s, o),
            None => (value, ""),
        };
        if spec.is_empty() {
            return Err(NfsRootError::Empty);
        }
        let (server, path) = match spec.split_once(':') {
            Some((s, p)) => (
                Some(
                    s.parse::<Ipv4Addr>()
                        .map_err(|_| NfsRootError::BadServer(s.to_string()))?,
                ),
                p,
            ),
            None => (None, spec),
        };
        if !path.starts_with('/') {
            return Err(NfsRootError::RelativePath(path.to_string()));
        }
        Ok(NfsRoot {
            server,
            path: path.to_string(),
            options: opts
                .split(',')
                .filter(|o| !o.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }

    /// The option's value (`vers=3` → `Some("3")`), or `Some("")` for a flag.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.iter().find_map(|o| match o.split_once('=') {
            Some((k, v)) if k == key => Some(v),
            None if o == key => Some(""),
            _ => None,
        })
    }

    /// NFS version requested, from `vers=` or `nfsvers=`.
    pub fn version(&self) -> Option<&str> {
        self.option("vers").or_else(|| self.option("nfsvers"))
    }

    /// Transport requested: `tcp`/`udp` flags or `proto=`.
    pub fn transport(&self) -> Option<&str> {
        if self.option("tcp").is_some() {
            return Some("tcp");
        }
        if self.option("udp").is_some() {
            return Some("udp");
        }
        self.option("proto")
    }
}

impl fmt::Display for NfsRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = self.server {
            write!(f, "{s}:")?;
        }
        f.write_str(&self.path)?;
        for o in &self.options {
            write!(f, ",{o}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let s = "172.16.1.1:/home/common/cluster,vers=3,tcp";
        let n = NfsRoot::parse(s).unwrap();
        assert_eq!(n.server, Some(Ipv4Addr::new(172, 16, 1, 1)));
        assert_eq!(n.path, "/home/common/cluster");
        assert_eq!(n.version(), Some("3"));
        assert_eq!(n.transport(), Some("tcp"));
        assert_eq!(n.to_string(), s);
    }

    #[test]
    fn seed_form_has_no_options() {
        let n = NfsRoot::parse("172.16.1.1:/home/common/cluster").unwrap();
        assert!(n.options.is_empty());
        assert_eq!(n.version(), None);
        assert_eq!(n.transport(), None);
    }

    #[test]
    fn no_server_and_proto() {
        let n = NfsRoot::parse("/srv/root,nfsvers=3,proto=tcp").unwrap();
        assert_eq!(n.server, None);
        assert_eq!(n.version(), Some("3"));
        assert_eq!(n.transport(), Some("tcp"));
        assert_eq!(n.to_string(), "/srv/root,nfsvers=3,proto=tcp");
    }

    #[test]
    fn errors() {
        assert_eq!(NfsRoot::parse(""), Err(NfsRootError::Empty));
        assert_eq!(
            NfsRoot::parse("server:/x"),
            Err(NfsRootError::BadServer("server".into()))
        );
        assert_eq!(
            NfsRoot::parse("10.0.0.1:x"),
            Err(NfsRootError::RelativePath("x".into()))
        );
    }
}
