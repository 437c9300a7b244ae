//! One read transfer as a state machine: packets and timeouts in, actions
//! out. Time is passed in; no sockets, so every path is unit-tested.

use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::options::{Agreed, Limits};
use crate::window::{AckKind, Window};
use crate::wire::{self, ErrorCode, Packet};

/// How a transfer ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The client acknowledged the last block.
    Complete,
    /// The client stopped answering; we gave up after the retry limit.
    TimedOut,
    /// The client sent an ERROR (e.g. it refused our options).
    ClientError(String),
}

/// What the IO layer must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Nothing,
    SendOack,
    /// Send these blocks (absolute numbers), in order.
    SendBlocks(RangeInclusive<u64>),
    /// Send an ERROR, then stop.
    Abort(ErrorCode, &'static str),
    /// Stop: nothing more to send.
    Finish(Outcome),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// OACK sent, waiting for ACK 0.
    Oack,
    Data,
    Done,
}

pub struct Transfer {
    content: Bytes,
    blksize: usize,
    window: Window,
    timeout: Duration,
    retries: u32,
    retries_left: u32,
    phase: Phase,
    oack: Bytes,
    deadline: Instant,
    outcome: Option<Outcome>,
}

impl Transfer {
    /// Starts a transfer of `content` with the negotiated options; returns
    /// the first action (OACK, or the first window when nothing was
    /// negotiated).
    pub fn start(content: Bytes, agreed: &Agreed, limits: &Limits, now: Instant) -> (Self, Action) {
        let total = Window::blocks_for(content.len() as u64, agreed.blksize);
        let mut oack = Vec::new();
        if !agreed.oack.is_empty() {
            wire::emit_oack(&mut oack, &agreed.oack);
        }
        let mut t = Transfer {
            content,
            blksize: agreed.blksize,
            window: Window::new(agreed.window, total),
            timeout: agreed.timeout,
            retries: limits.retries,
            retries_left: limits.retries,
            phase: if oack.is_empty() {
                Phase::Data
            } else {
                Phase::Oack
            },
            oack: Bytes::from(oack),
            deadline: now + agreed.timeout,
            outcome: None,
        };
        let first = match t.phase {
            Phase::Oack => Action::SendOack,
            _ => Action::SendBlocks(t.window.next_range()),
        };
        (t, first)
    }

    /// When `on_timeout` should be called next.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    pub fn blksize(&self) -> usize {
        self.blksize
    }

    pub fn oack_bytes(&self) -> &[u8] {
        &self.oack
    }

    /// The OACK datagram, shared (no copy per retransmission).
    pub fn oack(&self) -> Bytes {
        self.oack.clone()
    }

    /// Payload of absolute block `block` (1-based); the last may be empty.
    pub fn block_payload(&self, block: u64) -> Bytes {
        let start = ((block - 1) as usize).saturating_mul(self.blksize);
        let start = start.min(self.content.len());
        let end = (start + self.blksize).min(self.content.len());
        self.content.slice(start..end)
    }

    fn finish(&mut self, o: Outcome) -> Action {
        self.phase = Phase::Done;
        self.outcome = Some(o.clone());
        Action::Finish(o)
    }

    fn progress(&mut self, now: Instant) -> Action {
        self.retries_left = self.retries;
        self.deadline = now + self.timeout;
        Action::SendBlocks(self.window.next_range())
    }

    pub fn on_packet(&mut self, pkt: &Packet<'_>, now: Instant) -> Action {
        match (self.phase, pkt) {
            (Phase::Done, _) => Action::Nothing,
            (_, Packet::Error { message, .. }) => {
                let msg = String::from_utf8_lossy(message).into_owned();
                self.finish(Outcome::ClientError(msg))
            }
            (Phase::Oack, Packet::Ack { block: 0 }) => {
                self.phase = Phase::Data;
                self.progress(now)
            }
            (Phase::Data, Packet::Ack { block }) => match self.window.ack(*block) {
                AckKind::Complete => self.finish(Outcome::Complete),
                AckKind::Progress => self.progress(now),
                AckKind::Duplicate => Action::Nothing,
            },
            (_, Packet::Request { write: true, .. }) | (_, Packet::Data { .. }) => {
                self.phase = Phase::Done;
                self.outcome = Some(Outcome::ClientError("sent DATA to a read".into()));
                Action::Abort(ErrorCode::IllegalOperation, "this is a read transfer")
            }
            // Stray ACKs, repeated requests, OACKs: ignore.
            _ => Action::Nothing,
        }
    }

    /// Call at or after `deadline()`: retransmits the unacknowledged window,
    /// or gives up once the retry limit is spent.
    pub fn on_timeout(&mut self, now: Instant) -> Action {
        if self.phase == Phase::Done || now < self.deadline {
            return Action::Nothing;
        }
        if self.retries_left == 0 {
            self.phase = Phase::Done;
            self.outcome = Some(Outcome::TimedOut);
            return Action::Abort(ErrorCode::NotDefined, "timed out waiting for ACK");
        }
        self.retries_left -= 1;
        self.deadline = now + self.timeout;
        match self.phase {
            Phase::Oack => Action::SendOack,
            _ => Action::SendBlocks(self.window.next_range()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::negotiate;

    fn start(len: usize, opts: &[(&str, &str)]) -> (Transfer, Action, Instant) {
        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let limits = Limits::default();
        let agreed = negotiate(opts, len as u64, &limits);
        let now = Instant::now();
        let (t, a) = Transfer::start(Bytes::from(data), &agreed, &limits, now);
        (t, a, now)
    }

    fn ack(t: &mut Transfer, b: u16, now: Instant) -> Action {
        t.on_packet(&Packet::Ack { block: b }, now)
    }

    #[test]
    fn plain_transfer_of_exact_multiple_ends_with_empty_block() {
        let (mut t, a, now) = start(1024, &[]);
        assert_eq!(a, Action::SendBlocks(1..=1));
        assert_eq!(ack(&mut t, 1, now), Action::SendBlocks(2..=2));
        assert_eq!(ack(&mut t, 2, now), Action::SendBlocks(3..=3));
        assert_eq!(t.block_payload(3).len(), 0);
        assert_eq!(t.block_payload(2).len(), 512);
        assert_eq!(ack(&mut t, 3, now), Action::Finish(Outcome::Complete));
        assert!(t.is_done());
    }

    #[test]
    fn zero_byte_file_is_one_empty_block() {
        let (mut t, a, now) = start(0, &[]);
        assert_eq!(a, Action::SendBlocks(1..=1));
        assert!(t.block_payload(1).is_empty());
        assert_eq!(ack(&mut t, 1, now), Action::Finish(Outcome::Complete));
    }

    #[test]
    fn oack_then_windows() {
        let (mut t, a, now) = start(10_000, &[("blksize", "1000"), ("windowsize", "4")]);
        assert_eq!(a, Action::SendOack);
        assert_eq!(
            Packet::parse(t.oack_bytes()).unwrap(),
            Packet::Oack {
                options: vec![("blksize", "1000"), ("windowsize", "4")]
            }
        );
        assert_eq!(
            ack(&mut t, 1, now),
            Action::Nothing,
            "data ACK before OACK ACK"
        );
        assert_eq!(ack(&mut t, 0, now), Action::SendBlocks(1..=4));
        assert_eq!(ack(&mut t, 4, now), Action::SendBlocks(5..=8));
        assert_eq!(ack(&mut t, 8, now), Action::SendBlocks(9..=11));
        assert_eq!(ack(&mut t, 11, now), Action::Finish(Outcome::Complete));
    }

    #[test]
    fn duplicate_acks_do_not_retransmit() {
        let (mut t, _, now) = start(5000, &[]);
        assert_eq!(ack(&mut t, 1, now), Action::SendBlocks(2..=2));
        for _ in 0..10 {
            assert_eq!(ack(&mut t, 1, now), Action::Nothing);
        }
    }

    #[test]
    fn timeout_retransmits_then_gives_up() {
        let (mut t, _, now) = start(5000, &[]);
        assert_eq!(t.on_timeout(now), Action::Nothing, "before the deadline");
        let mut at = now;
        for _ in 0..Limits::default().retries {
            at = t.deadline();
            assert_eq!(t.on_timeout(at), Action::SendBlocks(1..=1));
        }
        at += Duration::from_secs(1);
        assert!(matches!(t.on_timeout(at), Action::Abort(..)));
        assert!(t.is_done());
        assert_eq!(t.outcome(), Some(&Outcome::TimedOut));
    }

    #[test]
    fn progress_resets_retries() {
        let (mut t, _, now) = start(5000, &[]);
        let at = t.deadline();
        assert_eq!(t.on_timeout(at), Action::SendBlocks(1..=1));
        assert_eq!(ack(&mut t, 1, at), Action::SendBlocks(2..=2));
        assert_eq!(t.deadline(), at + Duration::from_secs(1));
        let _ = now;
    }

    #[test]
    fn client_error_and_write_attempts_end_the_transfer() {
        let (mut t, _, now) = start(5000, &[("blksize", "1024")]);
        let e = Packet::Error {
            code: ErrorCode::OptionRefused,
            message: b"no thanks",
        };
        assert_eq!(
            t.on_packet(&e, now),
            Action::Finish(Outcome::ClientError("no thanks".into()))
        );
        let (mut t, _, now) = start(5000, &[]);
        let d = Packet::Data {
            block: 1,
            data: b"x",
        };
        assert!(matches!(
            t.on_packet(&d, now),
            Action::Abort(ErrorCode::IllegalOperation, _)
        ));
    }

    #[test]
    fn rollover_at_blksize_512() {
        // 33 MiB at 512 bytes: 67_584 blocks + the empty final one.
        let len = 33 << 20;
        let (mut t, _, now) = start(len, &[]);
        let total = (len / 512 + 1) as u64;
        for b in 1..total {
            assert_eq!(
                ack(&mut t, b as u16, now),
                Action::SendBlocks(b + 1..=b + 1)
            );
        }
        assert_eq!(t.block_payload(65_536).len(), 512);
        assert_eq!(
            ack(&mut t, total as u16, now),
            Action::Finish(Outcome::Complete)
        );
    }
}
