//! The table of transfers in progress, keyed by the client's address and
//! port (its TID), and one timer queue for all of them.
//!
//! Keying by the client TID is what makes a retransmitted RRQ harmless: the
//! same request from the same address and port finds its transfer and is
//! ignored instead of starting a second one. A *different* request from
//! that TID means the client gave up on the old transfer and reused its
//! port; the old one is dropped.
//!
//! Timers are lazy: a transfer is queued once with its deadline; when that
//! entry comes due the caller asks the transfer whether it really is (ACKs
//! may have pushed the deadline on) and queues it again. So an ACK costs no
//! timer work at all. Pure data structure, no sockets, no clock.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::time::Instant;

/// What to do with an incoming read request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// A new transfer; resolve the file, then [`Sessions::start`] it with
    /// this generation.
    New(u64),
    /// The same request again from the same TID: already being served.
    Duplicate,
    /// A different request from a TID that had a transfer: the old one is
    /// gone; the new one has this generation.
    Replaced(u64),
}

struct Entry<T> {
    generation: u64,
    request: Box<[u8]>,
    /// `None` while the file is being resolved.
    transfer: Option<T>,
}

pub struct Sessions<T> {
    map: HashMap<SocketAddr, Entry<T>>,
    timers: BinaryHeap<Reverse<(Instant, u64, SocketAddr)>>,
    next_generation: u64,
}

impl<T> Default for Sessions<T> {
    fn default() -> Self {
        Sessions {
            map: HashMap::new(),
            timers: BinaryHeap::new(),
            next_generation: 1,
        }
    }
}

impl<T> Sessions<T> {
    /// Transfers known (resolving or running).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Registers a request (its raw bytes identify a retransmission).
    pub fn admit(&mut self, peer: SocketAddr, request: &[u8]) -> Admit {
        let generation = self.next_generation;
        if let Some(e) = self.map.get_mut(&peer) {
            if *e.request == *request {
                return Admit::Duplicate;
            }
            self.next_generation += 1;
            *e = Entry {
                generation,
                request: request.into(),
                transfer: None,
            };
            return Admit::Replaced(generation);
        }
        self.next_generation += 1;
        self.map.insert(
            peer,
            Entry {
                generation,
                request: request.into(),
                transfer: None,
            },
        );
        Admit::New(generation)
    }

    /// Attaches the running transfer once its file is resolved and queues
    /// its first deadline. Returns the transfer back when the request was
    /// replaced or dropped meanwhile.
    pub fn start(
        &mut self,
        peer: SocketAddr,
        generation: u64,
        transfer: T,
        deadline: Instant,
    ) -> Result<(), T> {
        match self.map.get_mut(&peer) {
            Some(e) if e.generation == generation && e.transfer.is_none() => {
                e.transfer = Some(transfer);
                self.timers.push(Reverse((deadline, generation, peer)));
                Ok(())
            }
            _ => Err(transfer),
        }
    }

    /// Whether `generation` is still the live request of `peer`.
    pub fn is_current(&self, peer: &SocketAddr, generation: u64) -> bool {
        self.map
            .get(peer)
            .is_some_and(|e| e.generation == generation)
    }

    pub fn get_mut(&mut self, peer: &SocketAddr) -> Option<&mut T> {
        self.map.get_mut(peer).and_then(|e| e.transfer.as_mut())
    }

    pub fn remove(&mut self, peer: &SocketAddr) -> Option<T> {
        self.map.remove(peer).and_then(|e| e.transfer)
    }

    /// Queues another deadline check for `peer`'s running transfer.
    pub fn schedule(&mut self, peer: SocketAddr, deadline: Instant) {
        if let Some(e) = self.map.get(&peer) {
            self.timers.push(Reverse((deadline, e.generation, peer)));
        }
    }

    /// The earliest queued deadline (possibly stale: then early, never late).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((d, _, _))| *d)
    }

    /// The next transfer whose queued deadline has passed, if any. The
    /// caller checks the transfer's real deadline and re-[`schedule`]s it.
    ///
    /// [`schedule`]: Sessions::schedule
    pub fn pop_due(&mut self, now: Instant) -> Option<SocketAddr> {
        while let Some(Reverse((d, generation, peer))) = self.timers.peek().copied() {
            if d > now {
                return None;
            }
            self.timers.pop();
            let live = self
                .map
                .get(&peer)
                .is_some_and(|e| e.generation == generation && e.transfer.is_some());
            if live {
                return Some(peer);
            }
        }
        None
    }
}

/// Which loop owns a client: its address and port, hashed.
pub fn owner(peer: &SocketAddr, loops: usize) -> usize {
    let ip = match peer.ip() {
        std::net::IpAddr::V4(a) => u64::from(u32::from(a)),
        std::net::IpAddr::V6(a) => {
            let o = a.octets();
            u64::from_be_bytes(o[8..16].try_into().unwrap_or([0; 8]))
        }
    };
    let h = ((ip << 16) | u64::from(peer.port())).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((h >> 32) % loops.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn peer(port: u16) -> SocketAddr {
        ([127, 0, 0, 1], port).into()
    }

    #[test]
    fn each_client_has_one_owner_loop() {
        let mut counts = [0usize; 3];
        for port in 1000..1300 {
            let o = owner(&peer(port), 3);
            assert_eq!(o, owner(&peer(port), 3), "stable");
            counts[o] += 1;
        }
        assert!(counts.iter().all(|&c| c > 50), "spread: {counts:?}");
        assert_eq!(owner(&peer(1), 1), 0);
        assert_eq!(owner(&peer(1), 0), 0, "no loops: still an index");
    }

    #[test]
    fn retransmitted_request_is_a_duplicate() {
        let mut s: Sessions<&str> = Sessions::default();
        let g = match s.admit(peer(1000), b"rrq kernel") {
            Admit::New(g) => g,
            a => panic!("{a:?}"),
        };
        // Before and after the file is resolved.
        assert_eq!(s.admit(peer(1000), b"rrq kernel"), Admit::Duplicate);
        s.start(peer(1000), g, "t", Instant::now()).unwrap();
        assert_eq!(s.admit(peer(1000), b"rrq kernel"), Admit::Duplicate);
        assert_eq!(s.len(), 1);
        // Another port of the same host is another client.
        assert!(matches!(s.admit(peer(1001), b"rrq kernel"), Admit::New(_)));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn different_request_from_same_tid_replaces() {
        let mut s: Sessions<&str> = Sessions::default();
        let Admit::New(g1) = s.admit(peer(7), b"a") else {
            panic!()
        };
        let Admit::Replaced(g2) = s.admit(peer(7), b"b") else {
            panic!()
        };
        assert_ne!(g1, g2);
        // The old resolve finishing late must not attach.
        assert_eq!(s.start(peer(7), g1, "old", Instant::now()), Err("old"));
        assert!(s.start(peer(7), g2, "new", Instant::now()).is_ok());
        assert_eq!(s.get_mut(&peer(7)), Some(&mut "new"));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn timers_fire_in_order_and_skip_removed() {
        let mut s: Sessions<u32> = Sessions::default();
        let t0 = Instant::now();
        for (port, ms) in [(1, 30), (2, 10), (3, 20)] {
            let Admit::New(g) = s.admit(peer(port), &[port as u8]) else {
                panic!()
            };
            s.start(peer(port), g, 0, t0 + Duration::from_millis(ms))
                .unwrap();
        }
        assert_eq!(s.next_deadline(), Some(t0 + Duration::from_millis(10)));
        assert_eq!(s.pop_due(t0), None);
        s.remove(&peer(3));
        let now = t0 + Duration::from_millis(40);
        assert_eq!(s.pop_due(now), Some(peer(2)));
        assert_eq!(s.pop_due(now), Some(peer(1)), "3 was removed");
        assert_eq!(s.pop_due(now), None);
        s.schedule(peer(1), now);
        assert_eq!(s.pop_due(now), Some(peer(1)));
    }
}
