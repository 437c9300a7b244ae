//! pxelinux.cfg files: directives, labels, and which command actually boots.
//!
//! pxelinux reads one directive per line and does NOT join lines ending in
//! `\`; the seed relied on that and lost its `nfsroot=`/`ip=`. We keep both
//! views: `Logical` lines remember where a backslash continuation was, so the
//! importer can honour the admin's intent and the linter can flag the bug.

/// A line after joining backslash continuations.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Logical {
    pub text: String,
    /// 1-based physical line of the first piece.
    pub line: usize,
    /// Physical lines that ended in `\` (empty when none).
    pub continued: Vec<usize>,
    /// `(offset in text, physical line, 1-based column)` where each joined
    /// piece starts, to point findings at the right physical line.
    pub pieces: Vec<(usize, usize, usize)>,
}

impl Logical {
    /// Physical line and column of a byte offset in `text`.
    pub fn locate(&self, offset: usize) -> (usize, usize) {
        let (start, line, col) = self
            .pieces
            .iter()
            .rev()
            .find(|p| p.0 <= offset)
            .copied()
            .unwrap_or((0, self.line, 1));
        let chars = self
            .text
            .get(start..offset)
            .map_or(0, |s| s.chars().count());
        (line, col + chars)
    }
}

pub fn logical_lines(text: &str) -> Vec<Logical> {
    let mut out: Vec<Logical> = Vec::new();
    let mut cur: Option<Logical> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim_end_matches('\r');
        let (body, cont) = match line.strip_suffix('\\') {
            Some(b) => (b, true),
            None => (line, false),
        };
        let l = cur.get_or_insert_with(|| Logical {
            text: String::new(),
            line: n,
            continued: Vec::new(),
            pieces: Vec::new(),
        });
        if !l.text.is_empty() && !body.trim().is_empty() {
            l.text.push(' ');
        }
        let piece = if l.continued.is_empty() {
            body.trim_end()
        } else {
            body.trim()
        };
        let col = body[..body.len() - body.trim_start().len()].chars().count() + 1;
        let col = if l.continued.is_empty() { 1 } else { col };
        l.pieces.push((l.text.len(), n, col));
        l.text.push_str(piece);
        if cont {
            l.continued.push(n);
        } else {
            out.extend(cur.take());
        }
    }
    out.extend(cur);
    out
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Label {
    pub name: String,
    pub line: usize,
    pub kernel: Option<String>,
    pub append: Option<String>,
    pub initrd: Option<String>,
}

/// What pxelinux would boot: kernel, its arguments, the initrd.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Boot {
    pub kernel: String,
    pub args: String,
    pub initrd: Option<String>,
    /// Line of the directive that chose it.
    pub line: usize,
    /// `DEFAULT`, `ONTIMEOUT` or `LABEL` (first label, no default).
    pub via: &'static str,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct PxeConfig {
    pub labels: Vec<Label>,
    pub default: Option<(String, usize)>,
    pub ontimeout: Option<(String, usize)>,
    /// APPEND before the first LABEL: used by labels without their own.
    pub global_append: Option<String>,
    /// `(line, directive text)` we did not use, with a reason.
    pub ignored: Vec<(usize, String, &'static str)>,
    pub lines: Vec<Logical>,
}

fn split_directive(s: &str) -> (String, &str) {
    let s = s.trim();
    match s.find(char::is_whitespace) {
        Some(i) => (s[..i].to_ascii_uppercase(), s[i..].trim()),
        None => (s.to_ascii_uppercase(), ""),
    }
}

pub fn parse(text: &str) -> PxeConfig {
    let mut c = PxeConfig {
        lines: logical_lines(text),
        ..Default::default()
    };
    let mut label: Option<Label> = None;
    for l in c.lines.clone() {
        let t = l.text.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let (kw, rest) = split_directive(t);
        match kw.as_str() {
            "LABEL" => {
                c.labels.extend(label.take());
                label = Some(Label {
                    name: rest.to_string(),
                    line: l.line,
                    ..Default::default()
                });
            }
            "KERNEL" | "LINUX" => match &mut label {
                Some(lb) => lb.kernel = Some(rest.to_string()),
                None => c
                    .ignored
                    .push((l.line, t.to_string(), "KERNEL outside a LABEL")),
            },
            "APPEND" => match &mut label {
                Some(lb) => lb.append = Some(rest.to_string()),
                None => c.global_append = Some(rest.to_string()),
            },
            "INITRD" => match &mut label {
                Some(lb) => lb.initrd = Some(rest.to_string()),
                None => c
                    .ignored
                    .push((l.line, t.to_string(), "INITRD outside a LABEL")),
            },
            "DEFAULT" => c.default = Some((rest.to_string(), l.line)),
            "ONTIMEOUT" => c.ontimeout = Some((rest.to_string(), l.line)),
            "TIMEOUT" | "TOTALTIMEOUT" | "PROMPT" | "SAY" | "DISPLAY" | "UI" | "MENU"
            | "NOESCAPE" | "ALLOWOPTIONS" | "IMPLICIT" | "NOCOMPLETE" | "F1" | "F2" => {
                c.ignored.push((
                    l.line,
                    t.to_string(),
                    "not needed: generated configs boot at once without a menu",
                ))
            }
            _ => c
                .ignored
                .push((l.line, t.to_string(), "unknown to the importer")),
        }
    }
    c.labels.extend(label);
    c
}

impl PxeConfig {
    pub fn label(&self, name: &str) -> Option<&Label> {
        self.labels
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case(name))
    }

    /// Resolve a command line (`DEFAULT`/`ONTIMEOUT` value): a label name or
    /// a kernel image, either followed by extra arguments.
    fn resolve(&self, cmd: &str, line: usize, via: &'static str) -> Option<Boot> {
        let mut it = cmd.splitn(2, char::is_whitespace);
        let first = it.next().filter(|s| !s.is_empty())?;
        let extra = it.next().unwrap_or("").trim();
        let join = |a: Option<&str>| {
            [a.unwrap_or("").trim(), extra]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ")
        };
        match self.label(first) {
            Some(lb) => Some(Boot {
                kernel: lb.kernel.clone().unwrap_or_else(|| lb.name.clone()),
                args: join(lb.append.as_deref().or(self.global_append.as_deref())),
                initrd: lb.initrd.clone(),
                line,
                via,
            }),
            None => Some(Boot {
                kernel: first.to_string(),
                args: join(self.global_append.as_deref()),
                initrd: None,
                line,
                via,
            }),
        }
    }

    /// The boot that happens with nobody at the keyboard.
    pub fn boot(&self) -> Option<Boot> {
        if let Some((d, line)) = &self.default {
            return self.resolve(d, *line, "DEFAULT");
        }
        if let Some((o, line)) = &self.ontimeout {
            return self.resolve(o, *line, "ONTIMEOUT");
        }
        let first = self.labels.first()?;
        self.resolve(&first.name, first.line, "LABEL")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str =
        include_str!("../../../tests/fixtures/inventory/seed/pxelinux.cfg-01-00-18-f3-70-91-b9");

    #[test]
    fn continuations_are_joined_and_remembered() {
        let l = logical_lines(SEED);
        assert_eq!(l[2].line, 3);
        assert_eq!(l[2].continued, [3, 4]);
        assert_eq!(l[2].locate(0), (3, 1));
        assert_eq!(l[2].locate(21), (3, 22));
        assert_eq!(l[2].locate(40), (4, 2));
        assert_eq!(
            l[2].text,
            "ONTIMEOUT linux-cls1 root=/dev/nfsroot nfsroot=172.16.1.1:/home/common/cluster ip=172.16.1.10:172.16.1.1:172.16.1.255:255.255.255.0:::'off'"
        );
    }

    #[test]
    fn seed_boots_the_ontimeout_command() {
        let c = parse(SEED);
        assert_eq!(c.labels.len(), 1);
        assert_eq!(c.labels[0].kernel.as_deref(), Some("linux-cls1"));
        let b = c.boot().unwrap();
        assert_eq!(b.via, "ONTIMEOUT");
        assert_eq!(b.kernel, "linux-cls1");
        assert!(b.args.starts_with("root=/dev/nfsroot nfsroot="));
        assert_eq!(c.ignored.len(), 2);
    }

    #[test]
    fn default_label_with_initrd_and_extra_args() {
        let c = parse(
            "append quiet\ndefault linux single\nlabel linux\n  kernel vmlinuz\n  initrd initrd.img\nlabel other\n kernel x\n append a=1\n",
        );
        let b = c.boot().unwrap();
        assert_eq!(b.via, "DEFAULT");
        assert_eq!(b.kernel, "vmlinuz");
        assert_eq!(b.args, "quiet single");
        assert_eq!(b.initrd.as_deref(), Some("initrd.img"));
        assert_eq!(c.label("OTHER").unwrap().append.as_deref(), Some("a=1"));
    }
}
