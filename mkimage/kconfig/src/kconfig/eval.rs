//! Evaluating a [`Tree`] against a [`Config`]: explain why a symbol is not
//! at the value someone wants, and plan the assignments that would get it
//! there (for `--fix`).

use std::collections::{HashMap, HashSet};

use super::expr::{CmpOp, Expr};
use super::{Kind, Tree};
use crate::config::{Config, Tristate, Value};

pub struct Eval<'a> {
    pub tree: &'a Tree,
    pub config: &'a Config,
    /// Values a fix plan has decided on, consulted before the config.
    overlay: HashMap<String, Tristate>,
    /// Planned assignments in the order they were decided.
    planned: Vec<(String, Tristate)>,
    /// Requests the plan could not satisfy, with the reason.
    pub unfixable: Vec<String>,
}

/// How deep an explanation follows dependencies of dependencies.
const WHY_DEPTH: usize = 4;
const PLAN_DEPTH: usize = 24;

impl<'a> Eval<'a> {
    pub fn new(tree: &'a Tree, config: &'a Config) -> Self {
        Eval {
            tree,
            config,
            overlay: HashMap::new(),
            planned: Vec::new(),
            unfixable: Vec::new(),
        }
    }

    pub fn value(&self, sym: &str) -> Tristate {
        match self.overlay.get(sym) {
            Some(t) => *t,
            None => self.config.get(sym),
        }
    }

    fn string(&self, e: &Expr) -> String {
        match e {
            Expr::Const(t) => t.letter().to_string(),
            Expr::Lit(s) | Expr::Macro(s) => s.clone(),
            Expr::Sym(s) => match (self.overlay.get(s), self.config.raw(s)) {
                (Some(t), _) => t.letter().to_string(),
                (None, Some(Value::Other(v))) => v.clone(),
                (None, Some(Value::Tristate(t))) => t.letter().to_string(),
                (None, None) => match self.tree.symbol(s).map(|s| s.kind) {
                    Some(Kind::String | Kind::Int | Kind::Hex) => String::new(),
                    _ => "n".into(),
                },
            },
            other => self.eval(other).letter().to_string(),
        }
    }

    pub fn eval(&self, e: &Expr) -> Tristate {
        match e {
            Expr::Const(Tristate::M) if self.value("MODULES") == Tristate::N => Tristate::N,
            Expr::Const(t) => *t,
            Expr::Sym(s) => match self.tree.symbol(s).map(|s| s.kind) {
                Some(Kind::String | Kind::Int | Kind::Hex) => Tristate::N,
                _ => self.value(s),
            },
            Expr::Lit(_) => Tristate::N,
            // Toolchain probes: assume the compiler that built the config.
            Expr::Macro(_) => Tristate::Y,
            Expr::Not(x) => !self.eval(x),
            Expr::And(a, b) => self.eval(a).min(self.eval(b)),
            Expr::Or(a, b) => self.eval(a).max(self.eval(b)),
            Expr::Cmp(op, a, b) => {
                let (x, y) = (self.string(a), self.string(b));
                let ord = match (parse_num(&x), parse_num(&y)) {
                    (Some(i), Some(j)) => i.cmp(&j),
                    _ => x.cmp(&y),
                };
                let r = match op {
                    CmpOp::Eq => ord.is_eq(),
                    CmpOp::Ne => ord.is_ne(),
                    CmpOp::Lt => ord.is_lt(),
                    CmpOp::Le => ord.is_le(),
                    CmpOp::Gt => ord.is_gt(),
                    CmpOp::Ge => ord.is_ge(),
                };
                if r {
                    Tristate::Y
                } else {
                    Tristate::N
                }
            }
        }
    }

    /// Dependency level a symbol's `depends on` must reach for `wanted`:
    /// a bool symbol is visible (as y) even when its dependencies are m.
    fn dep_level(&self, sym: &str, wanted: Tristate) -> Tristate {
        match self.tree.symbol(sym).map(|s| s.kind) {
            Some(Kind::Tristate) => wanted,
            _ => Tristate::M.min(wanted),
        }
    }

    fn describe(&self, e: &Expr) -> String {
        match e {
            Expr::Sym(s) => match self.config.raw(s) {
                Some(Value::Tristate(Tristate::N)) | None => format!("{s} is not set"),
                Some(Value::Tristate(t)) => format!("{s} is {t}"),
                Some(Value::Other(v)) => format!("{s} is {v}"),
            },
            Expr::Not(x) => match &**x {
                Expr::Sym(s) => format!("{s} is {} (it must be off)", self.value(s)),
                x => format!("{x} holds (it must not)"),
            },
            Expr::Cmp(CmpOp::Eq, a, b) => match (&**a, &**b) {
                (Expr::Sym(s), Expr::Const(t)) => {
                    format!("{s} is {} (needs ={t})", self.value(s))
                }
                _ => format!("`{e}` does not hold"),
            },
            e => format!("`{e}` does not hold"),
        }
    }

    /// The parts of `e` that keep it below `level`.
    fn failing<'e>(&self, e: &'e Expr, level: Tristate, out: &mut Vec<&'e Expr>) {
        if self.eval(e) >= level {
            return;
        }
        match e {
            Expr::And(a, b) => {
                self.failing(a, level, out);
                self.failing(b, level, out);
            }
            Expr::Or(..) => {
                for d in e.disjuncts() {
                    self.failing(d, level, out);
                }
            }
            e => out.push(e),
        }
    }

    /// Sentences explaining why `sym` is below `wanted`; empty if it is not.
    pub fn why(&self, sym: &str, wanted: Tristate) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        self.why_into(sym, wanted, 0, &mut seen, &mut out);
        out
    }

    fn why_into(
        &self,
        sym: &str,
        wanted: Tristate,
        depth: usize,
        seen: &mut HashSet<String>,
        out: &mut Vec<String>,
    ) {
        if self.value(sym) >= wanted || depth > WHY_DEPTH || !seen.insert(sym.to_string()) {
            return;
        }
        let Some(s) = self.tree.symbol(sym) else {
            out.push(format!(
                "{sym} is not defined in this kernel source (renamed, removed, or another architecture)"
            ));
            return;
        };
        let loc = s.loc().map(|l| format!(" ({l})")).unwrap_or_default();
        let dep = s.depends();
        let level = self.dep_level(sym, wanted);
        if self.eval(&dep) < level {
            let mut leaves = Vec::new();
            self.failing(&dep, level, &mut leaves);
            let reasons: Vec<String> = leaves.iter().map(|l| self.describe(l)).collect();
            let any = dep.conjuncts().iter().any(|c| matches!(c, Expr::Or(..)));
            let joiner = if any && leaves.len() > 1 {
                " or "
            } else {
                ", "
            };
            out.push(format!(
                "{sym} depends on {dep}{loc}: {}",
                reasons.join(joiner)
            ));
            for leaf in leaves {
                match leaf {
                    Expr::Sym(d) => self.why_into(d, level, depth + 1, seen, out),
                    Expr::Cmp(CmpOp::Eq, a, b) => {
                        if let (Expr::Sym(d), Expr::Const(t)) = (&**a, &**b) {
                            self.why_into(d, *t, depth + 1, seen, out)
                        }
                    }
                    _ => {}
                }
            }
            return;
        }
        if let Some(i) = s.choice {
            let c = &self.tree.choices[i];
            if let Some(other) = c.members.iter().find(|m| self.value(m) == Tristate::Y) {
                out.push(format!(
                    "{sym} is one choice of \"{}\"{loc} and {other} is chosen instead",
                    c.prompt
                ));
                return;
            }
        }
        let prompts: Vec<_> = s.defs.iter().filter_map(|d| d.prompt.as_ref()).collect();
        if prompts.is_empty() {
            let by: Vec<&str> = s
                .selected_by
                .iter()
                .map(|x| x.by.as_str())
                .take(6)
                .collect();
            out.push(if by.is_empty() {
                format!(
                    "{sym} has no prompt and nothing selects it{loc}: only its default can set it"
                )
            } else {
                format!(
                    "{sym} has no prompt{loc}: it is on only when selected, by {}{}",
                    by.join(", "),
                    if s.selected_by.len() > by.len() {
                        ", …"
                    } else {
                        ""
                    }
                )
            });
            return;
        }
        if let Some((_, cond)) = prompts.iter().find(|(_, c)| self.eval(c) < Tristate::M) {
            if prompts.iter().all(|(_, c)| self.eval(c) < Tristate::M) {
                let mut leaves = Vec::new();
                self.failing(cond, Tristate::M, &mut leaves);
                let reasons: Vec<String> = leaves.iter().map(|l| self.describe(l)).collect();
                out.push(format!(
                    "{sym} can only be changed when {cond}{loc} ({}); otherwise it keeps its default",
                    reasons.join(", ")
                ));
                return;
            }
        }
        let now = self.config.describe(sym);
        let wanted = if s.kind == Kind::Tristate {
            wanted
        } else {
            Tristate::Y
        };
        out.push(format!(
            "{sym}'s dependencies are met{loc}, but the config has {now}: set CONFIG_{sym}={wanted}"
        ));
    }

    /// Plan the assignments that bring `sym` to `wanted`, dependencies
    /// included; read them back with [`Eval::planned`].
    pub fn plan(&mut self, sym: &str, wanted: Tristate) {
        self.need(sym, wanted, 0);
    }

    pub fn planned(&self) -> &[(String, Tristate)] {
        &self.planned
    }

    fn emit(&mut self, sym: &str, value: Tristate) {
        self.overlay.insert(sym.to_string(), value);
        match self.planned.iter_mut().find(|(s, _)| s == sym) {
            Some(entry) => entry.1 = value,
            None => self.planned.push((sym.to_string(), value)),
        }
    }

    fn need(&mut self, sym: &str, wanted: Tristate, depth: usize) {
        let tree = self.tree;
        let Some(s) = tree.symbol(sym) else {
            self.unfixable
                .push(format!("{sym} is not defined in this kernel source"));
            return;
        };
        let wanted = if s.kind == Kind::Tristate || wanted == Tristate::N {
            wanted
        } else {
            Tristate::Y
        };
        if self.value(sym) >= wanted || depth > PLAN_DEPTH {
            return;
        }
        // Decide first so that dependency loops terminate.
        self.overlay.insert(sym.to_string(), wanted);
        let level = self.dep_level(sym, wanted);
        let dep = s.depends();
        self.make(&dep, level, depth + 1);
        let prompts: Vec<_> = s.defs.iter().filter_map(|d| d.prompt.clone()).collect();
        if prompts.is_empty() {
            // Only a select can turn it on: pick a selector the user can set.
            let by = s
                .selected_by
                .iter()
                .find(|x| tree.symbol(&x.by).is_some_and(|b| b.has_prompt()))
                .cloned();
            match by {
                Some(sel) => {
                    self.need(&sel.by, wanted, depth + 1);
                    self.make(&sel.cond, wanted, depth + 1);
                }
                None => self.unfixable.push(format!(
                    "{sym} has no prompt and no selector that can be set; it cannot be requested"
                )),
            }
            return;
        }
        let visible = prompts.iter().any(|(_, c)| self.eval(c) >= Tristate::M);
        if !visible {
            let by_default = s
                .defs
                .iter()
                .flat_map(|d| d.defaults.iter())
                .find(|(v, c)| self.eval(c) >= Tristate::M && self.eval(v) >= wanted);
            if by_default.is_some() {
                return;
            }
            let cond = prompts[0].1.clone();
            self.make(&cond, Tristate::M, depth + 1);
        }
        self.emit(sym, wanted);
    }

    fn make(&mut self, e: &Expr, level: Tristate, depth: usize) {
        if self.eval(e) >= level || depth > PLAN_DEPTH {
            return;
        }
        match e {
            Expr::And(a, b) => {
                self.make(a, level, depth);
                self.make(b, level, depth);
            }
            Expr::Or(..) => {
                let tree = self.tree;
                let ds = e.disjuncts();
                let pick = ds
                    .iter()
                    .find(|d| matches!(d, Expr::Sym(s) if tree.symbol(s).is_some_and(|x| x.has_prompt())))
                    .or(ds.first())
                    .copied();
                if let Some(d) = pick {
                    self.make(d, level, depth);
                }
            }
            Expr::Not(x) => {
                if let Expr::Sym(s) = &**x {
                    if self.value(s) != Tristate::N {
                        self.emit(s, Tristate::N);
                    }
                }
            }
            Expr::Sym(s) => self.need(s, level, depth),
            Expr::Cmp(op, a, b) => match (op, &**a, &**b) {
                (CmpOp::Eq, Expr::Sym(s), Expr::Const(t)) => self.need(s, *t, depth),
                (CmpOp::Ne, Expr::Sym(s), Expr::Const(Tristate::N)) => {
                    self.need(s, Tristate::M, depth)
                }
                (CmpOp::Ne, Expr::Sym(s), Expr::Const(Tristate::Y)) => {
                    self.need(s, Tristate::M, depth)
                }
                _ => {}
            },
            _ => {}
        }
    }
}

fn parse_num(s: &str) -> Option<i64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => i64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests;
