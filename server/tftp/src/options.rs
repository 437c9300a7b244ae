//! Option negotiation: RFC 2347 (framework), 2348 (blksize), 2349 (tsize,
//! timeout), 7440 (windowsize). Pure: request options in, agreed values and
//! the OACK list out.

use std::time::Duration;

/// Server-side limits and defaults.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest blksize we agree to (RFC 2348 allows up to 65464).
    pub max_blksize: u16,
    /// Largest windowsize we agree to.
    pub max_window: u16,
    /// Retransmit timeout when the client asks for none.
    pub default_timeout: Duration,
    /// Retransmissions of one window before the transfer is abandoned.
    pub retries: u32,
    /// Event loops (threads, one data socket each) that share the
    /// transfers; 0 means one per two CPUs, at least 1, at most 4.
    pub loops: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_blksize: 65464,
            max_window: 256,
            default_timeout: Duration::from_secs(1),
            retries: 5,
            loops: 0,
        }
    }
}

/// What was agreed for one transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agreed {
    pub blksize: usize,
    pub window: u16,
    pub timeout: Duration,
    /// The OACK to send; empty means no OACK (plain RFC 1350 transfer).
    pub oack: Vec<(&'static str, String)>,
}

/// Negotiates against `limits`. `size` is the transfer size for `tsize`.
/// Unknown or malformed options are ignored, as RFC 2347 asks.
pub fn negotiate(requested: &[(&str, &str)], size: u64, limits: &Limits) -> Agreed {
    let mut a = Agreed {
        blksize: 512,
        window: 1,
        timeout: limits.default_timeout,
        oack: Vec::new(),
    };
    for (name, value) in requested {
        let v: Option<u64> = value.trim().parse().ok();
        match (name.to_ascii_lowercase().as_str(), v) {
            ("blksize", Some(v)) if v >= 8 => {
                // RFC 2348: the server may answer with a smaller size.
                let b = v.min(65464).min(u64::from(limits.max_blksize)).max(8);
                a.blksize = b as usize;
                a.oack.push(("blksize", b.to_string()));
            }
            ("tsize", Some(_)) => a.oack.push(("tsize", size.to_string())),
            ("timeout", Some(v)) if (1..=255).contains(&v) => {
                a.timeout = Duration::from_secs(v);
                a.oack.push(("timeout", v.to_string()));
            }
            ("windowsize", Some(v)) if (1..=65535).contains(&v) => {
                let w = (v as u16).min(limits.max_window).max(1);
                a.window = w;
                a.oack.push(("windowsize", w.to_string()));
            }
            _ => {}
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_request_has_no_oack() {
        let a = negotiate(&[], 10, &Limits::default());
        assert_eq!(a.blksize, 512);
        assert_eq!(a.window, 1);
        assert!(a.oack.is_empty());
    }

    #[test]
    fn all_options() {
        let req = [
            ("BLKSIZE", "1468"),
            ("tsize", "0"),
            ("timeout", "3"),
            ("windowsize", "16"),
            ("multicast", ""),
        ];
        let a = negotiate(&req, 4096, &Limits::default());
        assert_eq!(a.blksize, 1468);
        assert_eq!(a.window, 16);
        assert_eq!(a.timeout, Duration::from_secs(3));
        assert_eq!(
            a.oack,
            vec![
                ("blksize", "1468".to_string()),
                ("tsize", "4096".to_string()),
                ("timeout", "3".to_string()),
                ("windowsize", "16".to_string()),
            ]
        );
    }

    #[test]
    fn limits_clamp_and_bad_values_ignored() {
        let l = Limits {
            max_blksize: 1468,
            max_window: 64,
            ..Limits::default()
        };
        let req = [
            ("blksize", "65464"),
            ("windowsize", "1000"),
            ("timeout", "0"),
        ];
        let a = negotiate(&req, 0, &l);
        assert_eq!(a.blksize, 1468);
        assert_eq!(a.window, 64);
        assert_eq!(a.timeout, l.default_timeout);
        assert_eq!(a.oack.len(), 2);
        // blksize below 8 and garbage are ignored, not fatal.
        let a = negotiate(&[("blksize", "7"), ("tsize", "x")], 0, &l);
        assert!(a.oack.is_empty());
        assert_eq!(a.blksize, 512);
        let a = negotiate(&[("blksize", "99999")], 0, &Limits::default());
        assert_eq!(a.blksize, 65464);
    }
}
