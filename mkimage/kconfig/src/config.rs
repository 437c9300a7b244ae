//! A kernel `.config`: symbol → value, parsed from text.
//!
//! A symbol with no line at all (its `depends on` was unmet when the config
//! was written) reads as `n`, exactly like `# CONFIG_X is not set`.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// The three values of a bool/tristate symbol, ordered n < m < y so that
/// Kconfig's `&&` is `min` and `||` is `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tristate {
    N,
    M,
    Y,
}

impl std::ops::Not for Tristate {
    type Output = Tristate;
    fn not(self) -> Tristate {
        match self {
            Tristate::N => Tristate::Y,
            Tristate::M => Tristate::M,
            Tristate::Y => Tristate::N,
        }
    }
}

impl Tristate {
    pub fn letter(self) -> char {
        match self {
            Tristate::N => 'n',
            Tristate::M => 'm',
            Tristate::Y => 'y',
        }
    }
}

impl fmt::Display for Tristate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.letter())
    }
}

/// A value as written in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Tristate(Tristate),
    /// int, hex or string; strings keep their quotes stripped.
    Other(String),
}

#[derive(Clone, Debug, Default)]
pub struct Config {
    values: BTreeMap<String, Value>,
}

/// Why a text is not a `.config`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Config {
    /// Parse `.config` text (also a `merge_config.sh` fragment). Every line
    /// must be blank, a comment, or `CONFIG_X=value`; at least one symbol
    /// must appear, so random text is refused rather than read as empty.
    pub fn parse(text: &str) -> Result<Config, ParseError> {
        let mut values = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                // `# CONFIG_X is not set` is a value; any other comment is not.
                let c = comment.trim();
                if let Some(rest) = c.strip_prefix("CONFIG_") {
                    if let Some(name) = rest.strip_suffix(" is not set") {
                        if valid_name(name) {
                            values.insert(name.to_string(), Value::Tristate(Tristate::N));
                        }
                    }
                }
                continue;
            }
            let err = |message: String| ParseError {
                line: i + 1,
                message,
            };
            let Some(rest) = line.strip_prefix("CONFIG_") else {
                return Err(err(format!(
                    "expected CONFIG_NAME=value, found {:?}",
                    clip(line)
                )));
            };
            let Some((name, value)) = rest.split_once('=') else {
                return Err(err(format!("no `=` in {:?}", clip(line))));
            };
            if !valid_name(name) {
                return Err(err(format!("bad symbol name {:?}", clip(name))));
            }
            let value = match value {
                "y" => Value::Tristate(Tristate::Y),
                "m" => Value::Tristate(Tristate::M),
                "n" => Value::Tristate(Tristate::N),
                v => Value::Other(unquote(v)),
            };
            values.insert(name.to_string(), value);
        }
        if values.is_empty() {
            return Err(ParseError {
                line: 0,
                message: "no CONFIG_ lines".into(),
            });
        }
        Ok(Config { values })
    }

    /// The bool/tristate value of `name` (without `CONFIG_`); absent → n.
    pub fn get(&self, name: &str) -> Tristate {
        match self.values.get(name) {
            Some(Value::Tristate(t)) => *t,
            _ => Tristate::N,
        }
    }

    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    /// `CONFIG_X=y`, `CONFIG_X=m` or `CONFIG_X is not set`, for messages.
    pub fn describe(&self, name: &str) -> String {
        match self.values.get(name) {
            Some(Value::Tristate(Tristate::N)) => format!("CONFIG_{name} is not set"),
            Some(Value::Tristate(t)) => format!("CONFIG_{name}={t}"),
            Some(Value::Other(v)) => format!("CONFIG_{name}={v}"),
            None => format!("CONFIG_{name} is not set (no line)"),
        }
    }

    /// Like [`Config::describe`] for a value not (yet) in a config.
    pub fn describe_value(name: &str, value: &Value) -> String {
        match value {
            Value::Tristate(Tristate::N) => format!("CONFIG_{name} is not set"),
            Value::Tristate(t) => format!("CONFIG_{name}={t}"),
            Value::Other(v) => format!("CONFIG_{name}={v}"),
        }
    }

    pub fn set(&mut self, name: &str, value: Value) {
        self.values.insert(name.to_string(), value);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

fn unquote(v: &str) -> String {
    match v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => v.to_string(),
    }
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_values_and_absence() {
        let c = Config::parse(
            "#\n# Automatically generated\nCONFIG_A=y\nCONFIG_B=m\n# CONFIG_C is not set\nCONFIG_S=\"x y\"\nCONFIG_N=0x10\n",
        )
        .unwrap();
        assert_eq!(c.get("A"), Tristate::Y);
        assert_eq!(c.get("B"), Tristate::M);
        assert_eq!(c.get("C"), Tristate::N);
        assert_eq!(c.get("MISSING"), Tristate::N);
        assert_eq!(c.raw("S"), Some(&Value::Other("x y".into())));
        assert_eq!(c.describe("C"), "CONFIG_C is not set");
        assert_eq!(c.describe("B"), "CONFIG_B=m");
    }

    #[test]
    fn refuses_text_that_is_not_a_config() {
        assert_eq!(Config::parse("hello world\n").unwrap_err().line, 1);
        assert!(Config::parse("# only a comment\n").is_err());
        assert!(Config::parse("CONFIG_A=y\nrm -rf /\n").is_err());
    }

    #[test]
    fn tristate_logic() {
        assert!(Tristate::N < Tristate::M && Tristate::M < Tristate::Y);
        assert_eq!(!Tristate::M, Tristate::M);
        assert_eq!(!Tristate::Y, Tristate::N);
    }
}
