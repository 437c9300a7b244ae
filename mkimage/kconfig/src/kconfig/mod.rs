//! A Kconfig tree, read only as far as "why is this option missing" needs:
//! `config`/`menuconfig` with their type, prompt, defaults, `depends on` and
//! `select`; `if`, `menu` and `choice` blocks (whose conditions every entry
//! inside inherits); `source`. Help texts, ranges and macros are skipped.

pub mod eval;
pub mod expr;
pub mod parse;

use std::collections::HashMap;
use std::path::PathBuf;

pub use eval::Eval;
pub use expr::Expr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Kind {
    Bool,
    Tristate,
    String,
    Int,
    Hex,
    #[default]
    Unknown,
}

/// Where something is defined, for messages (`fs/nfs/Kconfig:8`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Loc {
    pub file: String,
    pub line: usize,
}

impl std::fmt::Display for Loc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One `config SYM` block (a symbol may have several).
#[derive(Clone, Debug, Default)]
pub struct Def {
    pub loc: Loc,
    /// Its own `depends on` and those of every enclosing `if`/`menu`/`choice`.
    pub depends: Expr,
    /// Prompt text and its `if` condition; `None` = the user cannot set it.
    pub prompt: Option<(String, Expr)>,
    /// `default VALUE if COND`.
    pub defaults: Vec<(Expr, Expr)>,
}

impl Default for Expr {
    fn default() -> Self {
        Expr::yes()
    }
}

/// `select SYM if COND` seen in the definition of `by`.
#[derive(Clone, Debug)]
pub struct Select {
    pub by: String,
    /// The select's own condition and the selector definition's dependencies.
    pub cond: Expr,
    pub loc: Loc,
}

#[derive(Clone, Debug, Default)]
pub struct Symbol {
    pub name: String,
    pub kind: Kind,
    pub defs: Vec<Def>,
    pub selected_by: Vec<Select>,
    /// Index into [`Tree::choices`] when the symbol is a choice member.
    pub choice: Option<usize>,
}

impl Symbol {
    /// Any definition's dependencies: the symbol is visible if one holds.
    pub fn depends(&self) -> Expr {
        self.defs
            .iter()
            .map(|d| d.depends.clone())
            .reduce(|a, b| if a == b { a } else { Expr::or(a, b) })
            .unwrap_or_default()
    }

    pub fn has_prompt(&self) -> bool {
        self.defs.iter().any(|d| d.prompt.is_some())
    }

    pub fn loc(&self) -> Option<&Loc> {
        self.defs.first().map(|d| &d.loc)
    }

    pub fn is_tristate(&self) -> bool {
        self.kind == Kind::Tristate
    }
}

#[derive(Clone, Debug, Default)]
pub struct Choice {
    pub loc: Loc,
    pub prompt: String,
    pub members: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Tree {
    pub root: PathBuf,
    pub symbols: HashMap<String, Symbol>,
    pub choices: Vec<Choice>,
    /// Lines we could not make sense of (reported, never fatal).
    pub warnings: Vec<String>,
    pub files: usize,
}

impl Tree {
    pub fn symbol(&self, name: &str) -> Option<&Symbol> {
        self.symbols.get(name)
    }
}
