//! Checking that a `.config` honours every line of a config fragment.

use std::collections::HashMap;
use std::fmt;

/// A fragment option whose final value differs from the requested one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub symbol: String,
    pub wanted: String,
    /// `None` when the final config does not set it.
    pub got: Option<String>,
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CONFIG_{}={} (now: {})",
            self.symbol,
            self.wanted,
            self.got.as_deref().unwrap_or("not set")
        )
    }
}

/// `CONFIG_X=v` and `# CONFIG_X is not set` lines → symbol → value ("n" for
/// not set).
fn parse(text: &str) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("# CONFIG_") {
            if let Some(sym) = rest.strip_suffix(" is not set") {
                v.push((sym.to_string(), "n".to_string()));
            }
        } else if let Some(rest) = l.strip_prefix("CONFIG_") {
            if let Some((sym, val)) = rest.split_once('=') {
                v.push((sym.to_string(), val.to_string()));
            }
        }
    }
    v
}

/// Every fragment option whose value did not survive into `config`.
pub fn verify(fragment: &str, config: &str) -> Vec<Dropped> {
    let got: HashMap<String, String> = parse(config).into_iter().collect();
    parse(fragment)
        .into_iter()
        .filter_map(|(sym, wanted)| {
            let have = got.get(&sym).cloned();
            let ok = match (&have, wanted.as_str()) {
                (None, "n") => true,
                (Some(h), w) => h == w,
                (None, _) => false,
            };
            (!ok).then(|| Dropped {
                symbol: sym,
                wanted,
                got: have.filter(|h| h != "n"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_options_are_named() {
        let frag = "CONFIG_NFS_FS=y\nCONFIG_TMPFS=y\n# CONFIG_DEBUG is not set\nCONFIG_HZ=100\n";
        let cfg = "CONFIG_TMPFS=y\n# CONFIG_NFS_FS is not set\nCONFIG_DEBUG=y\nCONFIG_HZ=250\n";
        let d = verify(frag, cfg);
        let names: Vec<_> = d.iter().map(|d| d.symbol.as_str()).collect();
        assert_eq!(names, ["NFS_FS", "DEBUG", "HZ"]);
        assert_eq!(d[0].to_string(), "CONFIG_NFS_FS=y (now: not set)");
        assert_eq!(d[2].got.as_deref(), Some("250"));
    }

    #[test]
    fn honoured_fragment_verifies_clean() {
        let frag = "# comment\nCONFIG_A=y\n\n# CONFIG_B is not set\n";
        assert!(verify(frag, "CONFIG_A=y\n").is_empty());
    }

    #[test]
    fn the_repo_fragment_parses_to_many_options() {
        assert!(parse(super::super::FRAGMENT).len() > 50);
    }
}
