//! Load errors that point at the file: `file:line:col: message` + a hint.

use std::fmt;
use std::path::PathBuf;

/// One thing wrong with an inventory, located in its file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Problem {
    /// File name (or another origin such as `<stdin>`).
    pub origin: String,
    /// 1-based line and column (in characters).
    pub line: usize,
    pub col: usize,
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.origin, self.line, self.col, self.message
        )?;
        if let Some(h) = &self.hint {
            write!(f, "\n    hint: {h}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read inventory {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Every problem found, in file order.
    #[error("{}", Problems(.0))]
    Invalid(Vec<Problem>),
}

impl LoadError {
    pub fn problems(&self) -> &[Problem] {
        match self {
            LoadError::Invalid(p) => p,
            LoadError::Io { .. } => &[],
        }
    }
}

struct Problems<'a>(&'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Maps byte offsets to 1-based line/column.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex { text, starts }
    }

    pub fn locate(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        let col = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line + 1, col + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let t = "a\nbcд\nx";
        let idx = LineIndex::new(t);
        assert_eq!(idx.locate(0), (1, 1));
        assert_eq!(idx.locate(2), (2, 1));
        assert_eq!(idx.locate(6), (2, 4));
        assert_eq!(idx.locate(7), (3, 1));
        assert_eq!(idx.locate(100), (3, 2));
    }

    #[test]
    fn display_has_location_and_hint() {
        let p = Problem {
            origin: "inv.toml".into(),
            line: 3,
            col: 7,
            message: "bad".into(),
            hint: Some("fix it".into()),
        };
        assert_eq!(p.to_string(), "inv.toml:3:7: bad\n    hint: fix it");
    }
}
