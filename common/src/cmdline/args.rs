//! Splitting a kernel command line into arguments the way the kernel does
//! (`lib/cmdline.c` `next_arg`): whitespace separates, double quotes group
//! and are removed, everything after a bare `--` belongs to init.

use std::fmt;

use super::ip::{IpError, IpParam};
use super::nfsroot::{NfsRoot, NfsRootError};

/// One argument, with where it started in the input (byte offset) so a
/// linter can point at it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Arg {
    pub key: String,
    /// `None` for a bare flag like `quiet`.
    pub value: Option<String>,
    /// The argument as written (quotes included).
    pub raw: String,
    pub offset: usize,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Cmdline {
    pub args: Vec<Arg>,
    /// Arguments after `--`, passed to init untouched.
    pub init_args: Vec<String>,
}

impl Cmdline {
    pub fn parse(line: &str) -> Cmdline {
        let bytes = line.as_bytes();
        let mut out = Cmdline::default();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i].is_ascii_whitespace() {
                i += 1;
                continue;
            }
            let start = i;
            let mut in_quote = false;
            while i < bytes.len() && (in_quote || !bytes[i].is_ascii_whitespace()) {
                if bytes[i] == b'"' {
                    in_quote = !in_quote;
                }
                i += 1;
            }
            let raw = &line[start..i];
            if raw == "--" && out.init_args.is_empty() {
                out.init_args = line[i..].split_whitespace().map(str::to_string).collect();
                break;
            }
            let unquoted: String = raw.chars().filter(|&c| c != '"').collect();
            let (key, value) = match unquoted.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (unquoted.clone(), None),
            };
            out.args.push(Arg {
                key,
                value,
                raw: raw.to_string(),
                offset: start,
            });
        }
        out
    }

    /// The last value given for `key` (later arguments override earlier ones
    /// for the parameters we care about).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.args
            .iter()
            .rev()
            .find(|a| a.key == key)
            .map(|a| a.value.as_deref().unwrap_or(""))
    }

    pub fn has_flag(&self, key: &str) -> bool {
        self.args.iter().any(|a| a.key == key)
    }

    pub fn ip(&self) -> Option<Result<IpParam, IpError>> {
        self.get("ip").map(IpParam::parse)
    }

    pub fn nfsroot(&self) -> Option<Result<NfsRoot, NfsRootError>> {
        self.get("nfsroot").map(NfsRoot::parse)
    }

    /// Appends `key=value` (or a bare flag); returns `self` for chaining.
    pub fn push(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        let raw = match value {
            Some(v) if v.contains(char::is_whitespace) => format!("{key}=\"{v}\""),
            Some(v) => format!("{key}={v}"),
            None => key.to_string(),
        };
        let offset = self.to_string().len() + usize::from(!self.args.is_empty());
        self.args.push(Arg {
            key: key.to_string(),
            value: value.map(str::to_string),
            raw,
            offset,
        });
        self
    }
}

impl fmt::Display for Cmdline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for a in &self.args {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            f.write_str(&a.raw)?;
        }
        if !self.init_args.is_empty() {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str("--")?;
            for a in &self.init_args {
                write!(f, " {a}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_the_kernel() {
        let c = Cmdline::parse("  root=/dev/nfs quiet  console=ttyS0,115200 ");
        let keys: Vec<_> = c.args.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, ["root", "quiet", "console"]);
        assert_eq!(c.get("console"), Some("ttyS0,115200"));
        assert_eq!(c.args[1].value, None);
        assert_eq!(c.args[2].offset, 23);
        assert!(c.has_flag("quiet"));
    }

    #[test]
    fn double_quotes_group_and_are_removed() {
        let c = Cmdline::parse("dyndbg=\"file x.c +p\" a=1");
        assert_eq!(c.get("dyndbg"), Some("file x.c +p"));
        assert_eq!(c.args[0].raw, "dyndbg=\"file x.c +p\"");
        assert_eq!(c.to_string(), "dyndbg=\"file x.c +p\" a=1");
    }

    #[test]
    fn single_quotes_are_kept() {
        let c = Cmdline::parse("ip=:::::'off'");
        assert_eq!(c.get("ip"), Some(":::::'off'"));
    }

    #[test]
    fn last_value_wins_and_init_args_split() {
        let c = Cmdline::parse("console=tty0 console=ttyS0 -- single x");
        assert_eq!(c.get("console"), Some("ttyS0"));
        assert_eq!(c.init_args, ["single", "x"]);
        assert_eq!(c.to_string(), "console=tty0 console=ttyS0 -- single x");
    }

    #[test]
    fn push_renders() {
        let mut c = Cmdline::default();
        c.push("root", Some("/dev/nfs")).push("quiet", None);
        assert_eq!(c.to_string(), "root=/dev/nfs quiet");
        assert_eq!(c.args[1].offset, 14);
    }
}
