//! iPXE's "Press Ctrl-B" prompt costs 2 s per BIOS PXE boot; the harness
//! answers it from the console stream, as an iPXE built with
//! `BANNER_TIMEOUT 0` would not ask at all.

use std::io::Write;

/// Watches the console for iPXE's Ctrl-B prompt and answers it once with a
/// space (see [`VmConfig::skip_ipxe_prompt`]). Holds the pipe's write end
/// for QEMU's lifetime, so its serial input never sees end-of-file.
pub(super) struct PromptAnswer {
    input: std::io::PipeWriter,
    /// The last bytes seen, so a prompt split across reads is still found.
    tail: Vec<u8>,
    answered: bool,
}

impl PromptAnswer {
    const PROMPT: &'static [u8] = b"for the iPXE command line";

    pub(super) fn new(input: std::io::PipeWriter) -> PromptAnswer {
        PromptAnswer {
            input,
            tail: Vec::new(),
            answered: false,
        }
    }

    /// Takes console output; returns `true` when it answered the prompt now.
    pub(super) fn feed(&mut self, data: &[u8]) -> bool {
        if self.answered {
            return false;
        }
        self.tail.extend_from_slice(data);
        if self
            .tail
            .windows(Self::PROMPT.len())
            .any(|w| w == Self::PROMPT)
        {
            self.answered = true;
            self.tail = Vec::new();
            // A failed write only means the 2 s wait runs out by itself.
            let _ = self.input.write_all(b" ");
            return true;
        }
        let keep = Self::PROMPT.len() - 1;
        if self.tail.len() > keep {
            self.tail.drain(..self.tail.len() - keep);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ipxe_prompt_is_answered_once_even_when_split_across_reads() {
        let (r, w) = std::io::pipe().unwrap();
        let mut a = PromptAnswer::new(w);
        assert!(!a.feed(b"iPXE 1.0.0 -- Open Source\r\nPress Ctrl-B for the iP"));
        assert!(a.feed(b"XE command line..."));
        assert!(!a.feed(b"Press Ctrl-B for the iPXE command line..."));
        drop(a);
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut { r }, &mut got).unwrap();
        assert_eq!(got, b" ");
    }
}
