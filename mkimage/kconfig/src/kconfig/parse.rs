//! Reading a Kconfig tree from `Kconfig` at the top of a kernel source
//! directory, following `source` lines.

use std::path::Path;

use super::expr::{self, Expr, Tok};
use super::{Choice, Def, Kind, Loc, Select, Symbol, Tree};
use crate::error::{Error, Result};

/// Read the tree under `root` for architecture `srcarch` (`x86`, `arm64`…).
pub fn load(root: &Path, srcarch: &str) -> Result<Tree> {
    let top = root.join("Kconfig");
    if !top.is_file() {
        return Err(Error::NotASourceTree { path: root.into() });
    }
    let mut p = Parser {
        tree: Tree {
            root: root.into(),
            ..Tree::default()
        },
        srcarch: srcarch.to_string(),
        stack: Vec::new(),
        entry: None,
        depth: 0,
    };
    p.file("Kconfig")?;
    p.flush();
    Ok(p.tree)
}

enum Frame {
    If(Expr),
    Menu(Expr),
    Choice(usize, Expr),
}

impl Frame {
    fn cond(&self) -> &Expr {
        match self {
            Frame::If(e) | Frame::Menu(e) | Frame::Choice(_, e) => e,
        }
    }
}

enum What {
    Config(String),
    Menu,
    Choice(usize),
    Other,
}

struct Entry {
    what: What,
    loc: Loc,
    kind: Kind,
    depends: Vec<Expr>,
    prompt: Option<(String, Expr)>,
    defaults: Vec<(Expr, Expr)>,
    selects: Vec<(String, Expr, Loc)>,
}

struct Parser {
    tree: Tree,
    srcarch: String,
    stack: Vec<Frame>,
    entry: Option<Entry>,
    depth: usize,
}

fn indent(line: &str) -> usize {
    let mut n = 0;
    for c in line.chars() {
        match c {
            ' ' => n += 1,
            '\t' => n = (n / 8 + 1) * 8,
            _ => break,
        }
    }
    n
}

impl Parser {
    fn file(&mut self, rel: &str) -> Result<()> {
        self.depth += 1;
        if self.depth > 64 {
            return Err(Error::Kconfig {
                path: rel.into(),
                line: 0,
                message: "`source` nests too deeply (a loop?)".into(),
            });
        }
        let path = self.tree.root.join(rel);
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        self.tree.files += 1;
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let lineno = i + 1;
            // Join `\` continuations.
            let mut line = lines[i].to_string();
            while line.ends_with('\\') && i + 1 < lines.len() {
                line.pop();
                i += 1;
                line.push_str(lines[i]);
            }
            i += 1;
            let word = line.split_whitespace().next().unwrap_or("");
            if word == "help" || word == "---help---" {
                // Help text: every following line indented at least as much
                // as its first non-blank line.
                let mut width = None;
                while i < lines.len() {
                    let l = lines[i];
                    if l.trim().is_empty() {
                        i += 1;
                        continue;
                    }
                    let w = indent(l);
                    match width {
                        None if w > indent(&line) || w > 0 => width = Some(w),
                        Some(min) if w >= min => {}
                        _ => break,
                    }
                    i += 1;
                }
                continue;
            }
            let loc = Loc {
                file: rel.to_string(),
                line: lineno,
            };
            if let Err(message) = self.line(&line, loc.clone()) {
                self.tree.warnings.push(format!("{loc}: {message}"));
            }
        }
        self.flush();
        self.depth -= 1;
        Ok(())
    }

    fn expand(&self, s: &str) -> String {
        s.replace("$(SRCARCH)", &self.srcarch)
            .replace("$(HEADER_ARCH)", &self.srcarch)
            .replace("$(ARCH)", &self.srcarch)
    }

    fn line(&mut self, line: &str, loc: Loc) -> Result<(), String> {
        if is_assignment(line) {
            // Macro language (`squote := '`): nothing we evaluate.
            return Ok(());
        }
        let toks = expr::tokenize(line)?;
        let Some(Tok::Word(kw)) = toks.first() else {
            return if toks.is_empty() {
                Ok(())
            } else {
                Err("line does not start with a keyword".into())
            };
        };
        let rest = &toks[1..];
        let cond_after = |at: usize| -> Result<Expr, String> {
            match rest.get(at) {
                None => Ok(Expr::yes()),
                Some(Tok::Word(w)) if w == "if" => expr::parse(&rest[at + 1..]),
                Some(t) => Err(format!("unexpected {t:?}")),
            }
        };
        match kw.as_str() {
            "config" | "menuconfig" => {
                let Some(Tok::Word(name)) = rest.first() else {
                    return Err("config without a name".into());
                };
                self.start(What::Config(name.clone()), loc);
            }
            "menu" | "comment" | "mainmenu" => {
                let what = if kw == "menu" {
                    What::Menu
                } else {
                    What::Other
                };
                self.start(what, loc);
            }
            "choice" => {
                self.tree.choices.push(Choice {
                    loc: loc.clone(),
                    ..Choice::default()
                });
                let idx = self.tree.choices.len() - 1;
                self.start(What::Choice(idx), loc);
            }
            "endmenu" | "endchoice" | "endif" => {
                self.flush();
                let ok = matches!(
                    (kw.as_str(), self.stack.pop()),
                    ("endmenu", Some(Frame::Menu(_)))
                        | ("endchoice", Some(Frame::Choice(..)))
                        | ("endif", Some(Frame::If(_)))
                );
                if !ok {
                    return Err(format!("unbalanced `{kw}`"));
                }
            }
            "if" => {
                self.flush();
                let e = expr::parse(rest)?;
                self.stack.push(Frame::If(e));
            }
            "source" | "osource" | "rsource" | "orsource" => {
                self.flush();
                let Some(Tok::Str(path)) = rest.first() else {
                    return Err("source without a path".into());
                };
                let mut path = self.expand(path);
                if kw.starts_with('r') || kw == "orsource" {
                    let dir = Path::new(&loc.file).parent().unwrap_or(Path::new(""));
                    path = dir.join(path).to_string_lossy().into_owned();
                }
                if path.contains("$(") || path.contains('*') {
                    return Err(format!("cannot expand source path {path:?}"));
                }
                if kw.starts_with('o') && !self.tree.root.join(&path).is_file() {
                    return Ok(());
                }
                self.file(&path).map_err(|e| e.to_string())?;
            }
            _ => {
                let Some(e) = self.entry.as_mut() else {
                    // Top-level macro assignments (`cc-option = …`) and the like.
                    return Ok(());
                };
                match kw.as_str() {
                    "bool" | "tristate" | "string" | "int" | "hex" | "def_bool"
                    | "def_tristate" => {
                        e.kind = match kw.as_str() {
                            "bool" | "def_bool" => Kind::Bool,
                            "tristate" | "def_tristate" => Kind::Tristate,
                            "string" => Kind::String,
                            "int" => Kind::Int,
                            _ => Kind::Hex,
                        };
                        if kw.starts_with("def_") {
                            let (value, cond) = split_if(rest)?;
                            e.defaults.push((value, cond));
                        } else if let Some(Tok::Str(text)) = rest.first() {
                            e.prompt = Some((text.clone(), cond_after(1)?));
                        }
                    }
                    "prompt" => {
                        let Some(Tok::Str(text)) = rest.first() else {
                            return Err("prompt without text".into());
                        };
                        e.prompt = Some((text.clone(), cond_after(1)?));
                    }
                    "default" => {
                        let (value, cond) = split_if(rest)?;
                        e.defaults.push((value, cond));
                    }
                    "depends" => {
                        let at = usize::from(rest.first() == Some(&Tok::Word("on".into())));
                        e.depends.push(expr::parse(&rest[at..])?);
                    }
                    "select" => {
                        let Some(Tok::Word(target)) = rest.first() else {
                            return Err("select without a symbol".into());
                        };
                        e.selects.push((target.clone(), cond_after(1)?, loc));
                    }
                    // Not needed to explain a missing option.
                    "imply" | "visible" | "range" | "option" | "modules" | "optional"
                    | "transitional" => {}
                    _ => return Err(format!("unknown keyword `{kw}`")),
                }
            }
        }
        Ok(())
    }

    fn start(&mut self, what: What, loc: Loc) {
        self.flush();
        self.entry = Some(Entry {
            what,
            loc,
            kind: Kind::Unknown,
            depends: Vec::new(),
            prompt: None,
            defaults: Vec::new(),
            selects: Vec::new(),
        });
    }

    /// Finish the entry being read: record a symbol, or open a block.
    fn flush(&mut self) {
        let Some(e) = self.entry.take() else {
            return;
        };
        let own = Expr::all(e.depends);
        let inherited = Expr::all(self.stack.iter().map(|f| f.cond().clone()));
        let depends = Expr::and(inherited, own.clone());
        match e.what {
            What::Config(name) => {
                let choice = self.stack.iter().rev().find_map(|f| match f {
                    Frame::Choice(i, _) => Some(*i),
                    _ => None,
                });
                for (target, cond, loc) in e.selects {
                    let sel = Select {
                        by: name.clone(),
                        cond: Expr::and(cond, depends.clone()),
                        loc,
                    };
                    self.sym(&target).selected_by.push(sel);
                }
                let sym = self.sym(&name);
                if e.kind != Kind::Unknown {
                    sym.kind = e.kind;
                }
                sym.defs.push(Def {
                    loc: e.loc,
                    depends,
                    prompt: e.prompt,
                    defaults: e.defaults,
                });
                if let Some(i) = choice {
                    sym.choice = Some(i);
                    if !self.tree.choices[i].members.contains(&name) {
                        self.tree.choices[i].members.push(name);
                    }
                }
            }
            What::Menu => self.stack.push(Frame::Menu(own)),
            What::Choice(i) => {
                if let Some((text, _)) = e.prompt {
                    self.tree.choices[i].prompt = text;
                }
                self.stack.push(Frame::Choice(i, own));
            }
            What::Other => {}
        }
    }

    fn sym(&mut self, name: &str) -> &mut Symbol {
        self.tree
            .symbols
            .entry(name.to_string())
            .or_insert_with(|| Symbol {
                name: name.to_string(),
                ..Symbol::default()
            })
    }
}

/// `name := value`, `name += value`, `name = value` at the start of a line.
fn is_assignment(line: &str) -> bool {
    let t = line.trim_start();
    let name_end = t
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(t.len());
    if name_end == 0 {
        return false;
    }
    let rest = t[name_end..].trim_start();
    rest.starts_with(":=") || rest.starts_with("+=") || rest.starts_with('=')
}

/// `VALUE [if COND]`.
fn split_if(toks: &[Tok]) -> Result<(Expr, Expr), String> {
    let at = toks
        .iter()
        .position(|t| t == &Tok::Word("if".into()))
        .unwrap_or(toks.len());
    let value = expr::parse(&toks[..at])?;
    let cond = if at < toks.len() {
        expr::parse(&toks[at + 1..])?
    } else {
        Expr::yes()
    };
    Ok((value, cond))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> Tree {
        let dir = std::env::temp_dir().join(format!(
            "kconfig-parse-{}-{}",
            std::process::id(),
            files[0].1.len()
        ));
        for (name, text) in files {
            let p = dir.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let t = load(&dir, "x86").unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        t
    }

    #[test]
    fn blocks_pass_their_conditions_down() {
        let t = tree(&[
            (
                "Kconfig",
                "mainmenu \"t\"\nconfig NET\n\tbool \"net\"\n\thelp\n\t  config NOT_A_SYMBOL\n\n\t  more help\n\nsource \"fs/Kconfig\"\n",
            ),
            (
                "fs/Kconfig",
                "menuconfig NETWORK_FILESYSTEMS\n\tbool \"nfs\"\nif NETWORK_FILESYSTEMS\nmenu \"m\"\n\tdepends on NET\nconfig NFS_FS\n\ttristate \"NFS client\"\n\tdepends on INET && FILE_LOCKING\n\tselect LOCKD\nendmenu\nendif\nchoice\n\tprompt \"c\"\nconfig A\n\tbool \"a\"\nendchoice\n",
            ),
        ]);
        assert!(t.warnings.is_empty(), "{:?}", t.warnings);
        assert!(t.symbol("NOT_A_SYMBOL").is_none());
        let nfs = t.symbol("NFS_FS").unwrap();
        assert_eq!(
            nfs.depends().to_string(),
            "NETWORK_FILESYSTEMS && NET && INET && FILE_LOCKING"
        );
        assert_eq!(nfs.loc().unwrap().to_string(), "fs/Kconfig:6");
        assert_eq!(t.symbol("LOCKD").unwrap().selected_by[0].by, "NFS_FS");
        assert_eq!(t.symbol("A").unwrap().choice, Some(0));
        assert_eq!(t.files, 2);
    }
}
