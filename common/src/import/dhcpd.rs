//! ISC dhcpd.conf syntax: a token stream of words, strings, `{`, `}`, `;`
//! with `#` comments, folded into a statement tree. Meaning is assigned in
//! `mod.rs`; this file only knows the grammar.

/// One statement: `words... ;` or `words... { body }`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Stmt {
    pub words: Vec<String>,
    pub body: Option<Vec<Stmt>>,
    pub line: usize,
    /// `#` comment lines directly above the statement.
    pub comments: Vec<String>,
}

impl Stmt {
    pub fn keyword(&self) -> &str {
        self.words.first().map(String::as_str).unwrap_or("")
    }

    /// The statement as written (for "could not map" notes).
    pub fn text(&self) -> String {
        let mut s = self.words.join(" ");
        if self.body.is_some() {
            s.push_str(" { … }");
        } else {
            s.push(';');
        }
        s
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, PartialEq)]
enum Tok {
    Word(String),
    Open,
    Close,
    Semi,
    Comment(String),
}

fn tokens(text: &str) -> Result<Vec<(Tok, usize)>, SyntaxError> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            '\n' => {
                line += 1;
                chars.next();
            }
            c if c.is_whitespace() => {
                chars.next();
            }
            '#' => {
                let mut s = String::new();
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                    s.push(c);
                }
                out.push((Tok::Comment(s[1..].trim().to_string()), line));
                line += 1;
            }
            '{' | '}' | ';' => {
                chars.next();
                let t = match c {
                    '{' => Tok::Open,
                    '}' => Tok::Close,
                    _ => Tok::Semi,
                };
                out.push((t, line));
            }
            '"' => {
                let start = line;
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => {
                            return Err(SyntaxError {
                                line: start,
                                message: "string is never closed".into(),
                            })
                        }
                        Some('"') => break,
                        Some('\\') => {
                            if let Some(n) = chars.next() {
                                s.push(n);
                            }
                        }
                        Some(c) => {
                            if c == '\n' {
                                line += 1;
                            }
                            s.push(c)
                        }
                    }
                }
                out.push((Tok::Word(s), start));
            }
            _ => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '{' | '}' | ';' | '"' | '#') {
                        break;
                    }
                    s.push(c);
                    chars.next();
                }
                out.push((Tok::Word(s), line));
            }
        }
    }
    Ok(out)
}

/// Parse a whole file into top-level statements.
pub fn parse(text: &str) -> Result<Vec<Stmt>, SyntaxError> {
    let toks = tokens(text)?;
    let mut pos = 0;
    let body = block(&toks, &mut pos, None)?;
    Ok(body)
}

fn block(
    toks: &[(Tok, usize)],
    pos: &mut usize,
    opened: Option<usize>,
) -> Result<Vec<Stmt>, SyntaxError> {
    let mut out = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut comments: Vec<String> = Vec::new();
    let mut start = 0;
    while *pos < toks.len() {
        let (tok, line) = &toks[*pos];
        *pos += 1;
        match tok {
            Tok::Comment(c) => {
                if words.is_empty() {
                    comments.push(c.clone());
                }
            }
            Tok::Word(w) => {
                if words.is_empty() {
                    start = *line;
                }
                words.push(w.clone());
            }
            Tok::Semi => {
                if !words.is_empty() {
                    out.push(Stmt {
                        words: std::mem::take(&mut words),
                        body: None,
                        line: start,
                        comments: std::mem::take(&mut comments),
                    });
                }
            }
            Tok::Open => {
                if words.is_empty() {
                    return Err(SyntaxError {
                        line: *line,
                        message: "`{` without a declaration before it".into(),
                    });
                }
                let inner = block(toks, pos, Some(*line))?;
                out.push(Stmt {
                    words: std::mem::take(&mut words),
                    body: Some(inner),
                    line: start,
                    comments: std::mem::take(&mut comments),
                });
            }
            Tok::Close => {
                if opened.is_none() {
                    return Err(SyntaxError {
                        line: *line,
                        message: "`}` closes nothing".into(),
                    });
                }
                if !words.is_empty() {
                    return Err(SyntaxError {
                        line: *line,
                        message: format!("`{}` is missing its `;`", words.join(" ")),
                    });
                }
                return Ok(out);
            }
        }
    }
    if let Some(l) = opened {
        return Err(SyntaxError {
            line: l,
            message: "this `{` is never closed".into(),
        });
    }
    if !words.is_empty() {
        return Err(SyntaxError {
            line: start,
            message: format!("`{}` is missing its `;`", words.join(" ")),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_shape() {
        let s = parse(include_str!(
            "../../../tests/fixtures/inventory/seed/dhcpd.conf"
        ))
        .unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].words, ["ddns-update-style", "ad-hoc"]);
        assert_eq!(
            s[1].words,
            ["subnet", "172.16.1.0", "netmask", "255.255.255.0"]
        );
        assert_eq!(s[1].body, Some(vec![]));
        assert_eq!(s[2].comments, ["First cluster, first rack"]);
        assert_eq!(s[2].line, 5);
        let host = s[2].body.as_ref().unwrap();
        assert_eq!(host[2].words, ["filename", "/tftpboot/pxelinux.0"]);
    }

    #[test]
    fn nesting_and_strings() {
        let s = parse("group { option domain-name \"a b;c\"; host x { } }").unwrap();
        let g = s[0].body.as_ref().unwrap();
        assert_eq!(g[0].words, ["option", "domain-name", "a b;c"]);
        assert_eq!(g[1].keyword(), "host");
    }

    #[test]
    fn errors_have_lines() {
        assert_eq!(parse("host a {\n").unwrap_err().line, 1);
        assert_eq!(parse("a b\n}").unwrap_err().message, "`}` closes nothing");
        assert!(parse("x \"abc").is_err());
        assert_eq!(
            parse("host a {\n fixed-address 1.2.3.4\n}")
                .unwrap_err()
                .line,
            3
        );
    }
}
