//! What the importer says about the input: unmapped, fixed, assumed.

use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NoteKind {
    /// A statement with no place in the inventory; it is not carried over.
    Unmapped,
    /// A bug in the input that the inventory no longer has.
    Fixed,
    /// Something missing that the importer filled in; check it.
    Assumed,
}

impl fmt::Display for NoteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NoteKind::Unmapped => "not mapped",
            NoteKind::Fixed => "fixed",
            NoteKind::Assumed => "assumed",
        })
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Note {
    pub origin: String,
    pub line: usize,
    pub kind: NoteKind,
    pub message: String,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.origin, self.line, self.kind, self.message
        )
    }
}
