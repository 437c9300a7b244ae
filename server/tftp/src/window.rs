//! Block numbering for a windowed sender (RFC 7440; RFC 1350 lockstep is a
//! window of one). Blocks are counted from 1 as `u64` internally; on the
//! wire they are the low 16 bits, so block 65536 goes out as 0 (rollover).

use std::ops::RangeInclusive;

/// What an ACK meant.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AckKind {
    /// Acknowledged new blocks; `acked()` moved forward.
    Progress,
    /// Acknowledged the last block: the transfer is complete.
    Complete,
    /// An ACK we already had, or one outside the window. Ignoring it (and
    /// not retransmitting) is what prevents the sorcerer's apprentice bug.
    Duplicate,
}

#[derive(Clone, Debug)]
pub struct Window {
    size: u64,
    total: u64,
    acked: u64,
    sent: u64,
}

impl Window {
    /// `total` blocks in the transfer (a file of `len` bytes at `blksize`
    /// has `len / blksize + 1`: the last one is short, possibly empty).
    pub fn new(size: u16, total: u64) -> Window {
        Window {
            size: u64::from(size.max(1)),
            total,
            acked: 0,
            sent: 0,
        }
    }

    pub fn blocks_for(len: u64, blksize: usize) -> u64 {
        len / blksize as u64 + 1
    }

    pub fn acked(&self) -> u64 {
        self.acked
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// The blocks to (re)send now: from the first unacknowledged one, up to
    /// a full window. Records them as sent.
    pub fn next_range(&mut self) -> RangeInclusive<u64> {
        let first = self.acked + 1;
        let last = (self.acked + self.size).min(self.total);
        self.sent = self.sent.max(last);
        first..=last
    }

    pub fn wire(block: u64) -> u16 {
        block as u16
    }

    /// Maps a wire block number to the most recent absolute block it can
    /// stand for, at or below the highest block sent.
    pub fn ack(&mut self, wire: u16) -> AckKind {
        let back = u64::from(Self::wire(self.sent).wrapping_sub(wire));
        if back >= self.sent.saturating_sub(self.acked) {
            return AckKind::Duplicate;
        }
        self.acked = self.sent - back;
        if self.acked == self.total {
            AckKind::Complete
        } else {
            AckKind::Progress
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_counts() {
        assert_eq!(Window::blocks_for(0, 512), 1);
        assert_eq!(Window::blocks_for(511, 512), 1);
        assert_eq!(Window::blocks_for(512, 512), 2);
        assert_eq!(Window::blocks_for(1024, 512), 3);
    }

    #[test]
    fn lockstep() {
        let mut w = Window::new(1, 3);
        assert_eq!(w.next_range(), 1..=1);
        assert_eq!(w.ack(0), AckKind::Duplicate);
        assert_eq!(w.ack(1), AckKind::Progress);
        assert_eq!(w.ack(1), AckKind::Duplicate);
        assert_eq!(w.next_range(), 2..=2);
        assert_eq!(w.ack(3), AckKind::Duplicate, "ack ahead of what was sent");
        assert_eq!(w.ack(2), AckKind::Progress);
        assert_eq!(w.next_range(), 3..=3);
        assert_eq!(w.ack(3), AckKind::Complete);
    }

    #[test]
    fn partial_window_ack_resends_from_gap() {
        let mut w = Window::new(4, 10);
        assert_eq!(w.next_range(), 1..=4);
        assert_eq!(w.ack(2), AckKind::Progress);
        assert_eq!(w.next_range(), 3..=6);
        assert_eq!(w.ack(6), AckKind::Progress);
        assert_eq!(w.next_range(), 7..=10);
        assert_eq!(w.ack(10), AckKind::Complete);
    }

    #[test]
    fn rollover() {
        let total = 70_000;
        let mut w = Window::new(1, total);
        for b in 1..=total {
            assert_eq!(w.next_range(), b..=b);
            let kind = w.ack(Window::wire(b));
            if b == total {
                assert_eq!(kind, AckKind::Complete);
            } else {
                assert_eq!(kind, AckKind::Progress, "block {b}");
            }
        }
        assert_eq!(Window::wire(65_536), 0);
        assert_eq!(Window::wire(65_537), 1);
    }

    #[test]
    fn rollover_inside_a_window() {
        let mut w = Window::new(16, 70_000);
        w.acked = 65_530;
        assert_eq!(w.next_range(), 65_531..=65_546);
        // Wire 5 is block 65_541 here, not block 5.
        assert_eq!(w.ack(5), AckKind::Progress);
        assert_eq!(w.acked(), 65_541);
        assert_eq!(w.ack(65_535), AckKind::Duplicate);
    }
}
