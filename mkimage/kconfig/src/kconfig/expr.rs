//! Kconfig expressions (`depends on`, `if`, `select … if`, `default … if`).

use std::fmt;

use crate::config::Tristate;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn text(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// `y`, `m`, `n`.
    Const(Tristate),
    Sym(String),
    /// A quoted string or a number.
    Lit(String),
    /// `$(…)`: a toolchain probe we cannot run; taken as true.
    Macro(String),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
}

impl Expr {
    pub fn yes() -> Expr {
        Expr::Const(Tristate::Y)
    }

    pub fn is_yes(&self) -> bool {
        matches!(self, Expr::Const(Tristate::Y))
    }

    /// `a && b`, dropping a trivial `y` side.
    pub fn and(a: Expr, b: Expr) -> Expr {
        if a.is_yes() {
            b
        } else if b.is_yes() {
            a
        } else {
            Expr::And(Box::new(a), Box::new(b))
        }
    }

    pub fn or(a: Expr, b: Expr) -> Expr {
        if a.is_yes() || b.is_yes() {
            Expr::yes()
        } else {
            Expr::Or(Box::new(a), Box::new(b))
        }
    }

    pub fn all(items: impl IntoIterator<Item = Expr>) -> Expr {
        items.into_iter().fold(Expr::yes(), Expr::and)
    }

    /// The operands of a chain of `&&`, flattened.
    pub fn conjuncts(&self) -> Vec<&Expr> {
        match self {
            Expr::And(a, b) => {
                let mut v = a.conjuncts();
                v.extend(b.conjuncts());
                v
            }
            e => vec![e],
        }
    }

    pub fn disjuncts(&self) -> Vec<&Expr> {
        match self {
            Expr::Or(a, b) => {
                let mut v = a.disjuncts();
                v.extend(b.disjuncts());
                v
            }
            e => vec![e],
        }
    }

    fn prec(&self) -> u8 {
        match self {
            Expr::Or(..) => 1,
            Expr::And(..) => 2,
            Expr::Not(..) => 3,
            Expr::Cmp(..) => 4,
            _ => 5,
        }
    }

    fn fmt_in(&self, f: &mut fmt::Formatter<'_>, parent: u8) -> fmt::Result {
        let paren = self.prec() < parent;
        if paren {
            f.write_str("(")?;
        }
        match self {
            Expr::Const(t) => write!(f, "{t}")?,
            Expr::Sym(s) => f.write_str(s)?,
            Expr::Lit(s) => {
                if s.parse::<i64>().is_ok() || s.starts_with("0x") {
                    f.write_str(s)?
                } else {
                    write!(f, "\"{s}\"")?
                }
            }
            Expr::Macro(m) => f.write_str(m)?,
            Expr::Not(e) => {
                f.write_str("!")?;
                e.fmt_in(f, 4)?
            }
            Expr::And(a, b) => {
                a.fmt_in(f, 2)?;
                f.write_str(" && ")?;
                b.fmt_in(f, 2)?
            }
            Expr::Or(a, b) => {
                a.fmt_in(f, 1)?;
                f.write_str(" || ")?;
                b.fmt_in(f, 1)?
            }
            Expr::Cmp(op, a, b) => {
                a.fmt_in(f, 5)?;
                write!(f, "{}", op.text())?;
                b.fmt_in(f, 5)?
            }
        }
        if paren {
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_in(f, 0)
    }
}

/// Tokens of one Kconfig line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    Word(String),
    Str(String),
    Op(&'static str),
}

/// Split a line into tokens; `#` outside quotes ends it. `$(…)` (with
/// nested parentheses) is one word.
pub fn tokenize(line: &str) -> Result<Vec<Tok>, String> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\r' => i += 1,
            b'#' => break,
            b'"' | b'\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Err("unterminated string".into()),
                        Some(&q) if q == c => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') if i + 1 < b.len() => {
                            s.push(b[i + 1] as char);
                            i += 2;
                        }
                        Some(_) => {
                            // Multi-byte UTF-8: copy the whole char.
                            let ch = line[i..].chars().next().unwrap_or('?');
                            s.push(ch);
                            i += ch.len_utf8();
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            b'&' if b.get(i + 1) == Some(&b'&') => {
                out.push(Tok::Op("&&"));
                i += 2
            }
            b'|' if b.get(i + 1) == Some(&b'|') => {
                out.push(Tok::Op("||"));
                i += 2
            }
            b'!' if b.get(i + 1) == Some(&b'=') => {
                out.push(Tok::Op("!="));
                i += 2
            }
            b'<' | b'>' if b.get(i + 1) == Some(&b'=') => {
                out.push(Tok::Op(if c == b'<' { "<=" } else { ">=" }));
                i += 2
            }
            b'!' => {
                out.push(Tok::Op("!"));
                i += 1
            }
            b'(' => {
                out.push(Tok::Op("("));
                i += 1
            }
            b')' => {
                out.push(Tok::Op(")"));
                i += 1
            }
            b'=' => {
                out.push(Tok::Op("="));
                i += 1
            }
            b'<' => {
                out.push(Tok::Op("<"));
                i += 1
            }
            b'>' => {
                out.push(Tok::Op(">"));
                i += 1
            }
            _ => {
                let start = i;
                let mut depth = 0usize;
                while i < b.len() {
                    let d = b[i];
                    if d == b'$' && b.get(i + 1) == Some(&b'(') {
                        depth += 1;
                        i += 2;
                        continue;
                    }
                    if depth > 0 {
                        match d {
                            b'(' => depth += 1,
                            b')' => depth -= 1,
                            _ => {}
                        }
                        i += 1;
                        continue;
                    }
                    if matches!(
                        d,
                        b' ' | b'\t'
                            | b'\r'
                            | b'#'
                            | b'"'
                            | b'\''
                            | b'&'
                            | b'|'
                            | b'!'
                            | b'('
                            | b')'
                            | b'='
                            | b'<'
                            | b'>'
                    ) {
                        break;
                    }
                    i += 1;
                }
                if i == start {
                    return Err(format!("unexpected character {:?}", c as char));
                }
                out.push(Tok::Word(line[start..i].to_string()));
            }
        }
    }
    Ok(out)
}

/// Parse a whole expression from `toks`.
pub fn parse(toks: &[Tok]) -> Result<Expr, String> {
    let mut p = 0;
    let e = or(toks, &mut p)?;
    if p != toks.len() {
        return Err(format!("unexpected {:?} in expression", toks[p]));
    }
    Ok(e)
}

fn or(t: &[Tok], p: &mut usize) -> Result<Expr, String> {
    let mut e = and(t, p)?;
    while t.get(*p) == Some(&Tok::Op("||")) {
        *p += 1;
        e = Expr::Or(Box::new(e), Box::new(and(t, p)?));
    }
    Ok(e)
}

fn and(t: &[Tok], p: &mut usize) -> Result<Expr, String> {
    let mut e = unary(t, p)?;
    while t.get(*p) == Some(&Tok::Op("&&")) {
        *p += 1;
        e = Expr::And(Box::new(e), Box::new(unary(t, p)?));
    }
    Ok(e)
}

fn unary(t: &[Tok], p: &mut usize) -> Result<Expr, String> {
    if t.get(*p) == Some(&Tok::Op("!")) {
        *p += 1;
        return Ok(Expr::Not(Box::new(unary(t, p)?)));
    }
    if t.get(*p) == Some(&Tok::Op("(")) {
        *p += 1;
        let e = or(t, p)?;
        if t.get(*p) != Some(&Tok::Op(")")) {
            return Err("missing `)`".into());
        }
        *p += 1;
        return Ok(e);
    }
    let left = atom(t, p)?;
    let op = match t.get(*p) {
        Some(Tok::Op("=")) => CmpOp::Eq,
        Some(Tok::Op("!=")) => CmpOp::Ne,
        Some(Tok::Op("<")) => CmpOp::Lt,
        Some(Tok::Op("<=")) => CmpOp::Le,
        Some(Tok::Op(">")) => CmpOp::Gt,
        Some(Tok::Op(">=")) => CmpOp::Ge,
        _ => return Ok(left),
    };
    *p += 1;
    let right = atom(t, p)?;
    Ok(Expr::Cmp(op, Box::new(left), Box::new(right)))
}

fn atom(t: &[Tok], p: &mut usize) -> Result<Expr, String> {
    let tok = t.get(*p).ok_or("expression ends too early")?;
    *p += 1;
    Ok(match tok {
        Tok::Str(s) => Expr::Lit(s.clone()),
        Tok::Word(w) => word(w),
        Tok::Op(o) => return Err(format!("unexpected `{o}`")),
    })
}

pub fn word(w: &str) -> Expr {
    match w {
        "y" => Expr::Const(Tristate::Y),
        "m" => Expr::Const(Tristate::M),
        "n" => Expr::Const(Tristate::N),
        _ if w.starts_with("$(") => Expr::Macro(w.to_string()),
        _ if w.starts_with('-') || w.bytes().all(|b| b.is_ascii_digit()) || w.starts_with("0x") => {
            Expr::Lit(w.to_string())
        }
        _ => Expr::Sym(w.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Expr {
        parse(&tokenize(s).unwrap()).unwrap()
    }

    #[test]
    fn precedence_and_display() {
        assert_eq!(p("A && B || !C").to_string(), "A && B || !C");
        assert_eq!(p("A && (B || C)").to_string(), "A && (B || C)");
        assert_eq!(
            p("NFS_FS=y && !(X = \"a b\")").to_string(),
            "NFS_FS=y && !X=\"a b\""
        );
        assert_eq!(
            p("$(cc-option,-m64) && 64BIT").to_string(),
            "$(cc-option,-m64) && 64BIT"
        );
    }

    #[test]
    fn comments_and_errors() {
        assert_eq!(tokenize("A # note").unwrap().len(), 1);
        assert!(parse(&tokenize("A &&").unwrap()).is_err());
        assert!(parse(&tokenize("(A").unwrap()).is_err());
        assert!(tokenize("\"open").is_err());
    }
}
