//! `--fragment FILE`: which requested options the final config dropped.

use serde::Serialize;

use crate::config::{Config, Tristate, Value};
use crate::kconfig::Eval;

#[derive(Clone, Debug, Serialize)]
pub struct Unhonoured {
    pub symbol: String,
    pub requested: String,
    pub actual: String,
    pub why: Vec<String>,
}

pub fn check(fragment: &Config, config: &Config, eval: Option<&Eval>) -> Vec<Unhonoured> {
    let mut out = Vec::new();
    for (sym, want) in fragment.iter() {
        let honoured = match want {
            Value::Tristate(t) => config.get(sym) == *t,
            Value::Other(v) => matches!(config.raw(sym), Some(Value::Other(x)) if x == v),
        };
        if honoured {
            continue;
        }
        let why = match (want, eval) {
            (Value::Tristate(t), Some(ev)) if *t > config.get(sym) => ev.why(sym, *t),
            (Value::Tristate(Tristate::N), _) => {
                vec![format!(
                    "{sym} is forced on: something selects it or it has no prompt"
                )]
            }
            (_, None) => vec![format!("pass --source DIR (the kernel tree) to see why")],
            _ => vec![],
        };
        out.push(Unhonoured {
            symbol: sym.to_string(),
            requested: Config::describe_value(sym, want),
            actual: config.describe(sym),
            why,
        });
    }
    out
}
