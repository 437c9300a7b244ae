//! Dynamic addresses for MACs the inventory does not know. Pure state: time
//! is passed in, persistence is the caller's job (it journals the returned
//! records and acknowledges only after they are durable).

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use diskless_common::inventory::Mac;

use crate::config::PoolRange;
use crate::journal::Record;

/// How long an offered address is held for the client's REQUEST.
pub const OFFER_HOLD_SECS: u64 = 60;
/// How long a declined (in use by someone else) address is avoided.
pub const DECLINE_HOLD_SECS: u64 = 600;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    pub ip: Ipv4Addr,
    pub expires: u64,
}

/// Pool leases and offers for every range.
#[derive(Default)]
pub struct Pool {
    leases: HashMap<Mac, Lease>,
    owner: HashMap<Ipv4Addr, Mac>,
    offers: HashMap<Mac, Lease>,
    offered: HashMap<Ipv4Addr, Mac>,
    declined: HashMap<Ipv4Addr, u64>,
    /// Addresses never handed out: the server, static nodes.
    reserved: HashSet<Ipv4Addr>,
    cursor: HashMap<Ipv4Addr, u32>,
}

impl Pool {
    pub fn new(reserved: impl IntoIterator<Item = Ipv4Addr>) -> Self {
        Pool {
            reserved: reserved.into_iter().collect(),
            ..Default::default()
        }
    }

    /// Applies a replayed journal record.
    pub fn apply(&mut self, rec: &Record) {
        match *rec {
            Record::Lease { mac, ip, expires } => {
                self.bind(mac, Lease { ip, expires });
            }
            Record::Release { mac, ip } => {
                if self.leases.get(&mac).is_some_and(|l| l.ip == ip) {
                    self.leases.remove(&mac);
                    self.owner.remove(&ip);
                }
            }
        }
    }

    /// Leases still valid at `now`, as records for a compacted journal.
    pub fn live_records(&self, now: u64) -> Vec<Record> {
        let mut v: Vec<Record> = self
            .leases
            .iter()
            .filter(|(_, l)| l.expires > now)
            .map(|(&mac, l)| Record::Lease {
                mac,
                ip: l.ip,
                expires: l.expires,
            })
            .collect();
        v.sort_by_key(|r| match r {
            Record::Lease { ip, .. } | Record::Release { ip, .. } => u32::from(*ip),
        });
        v
    }

    pub fn lease_of(&self, mac: &Mac) -> Option<Lease> {
        self.leases.get(mac).copied()
    }

    pub fn len(&self) -> usize {
        self.leases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
    }

    fn bind(&mut self, mac: Mac, lease: Lease) {
        if let Some(old) = self.leases.insert(mac, lease) {
            if old.ip != lease.ip && self.owner.get(&old.ip) == Some(&mac) {
                self.owner.remove(&old.ip);
            }
        }
        if let Some(prev) = self.owner.insert(lease.ip, mac) {
            if prev != mac {
                self.leases.remove(&prev);
            }
        }
    }

    /// Whether `mac` may take `ip` at `now`.
    fn is_free_for(&self, ip: Ipv4Addr, mac: &Mac, now: u64) -> bool {
        if self.reserved.contains(&ip) || self.declined.get(&ip).is_some_and(|&t| t > now) {
            return false;
        }
        let lease_ok = match self.owner.get(&ip) {
            Some(m) if m != mac => self.leases.get(m).is_none_or(|l| l.expires <= now),
            _ => true,
        };
        let offer_ok = match self.offered.get(&ip) {
            Some(m) if m != mac => self.offers.get(m).is_none_or(|o| o.expires <= now),
            _ => true,
        };
        lease_ok && offer_ok
    }

    /// Picks an address for a DISCOVER: the client's current lease, else the
    /// one it asks for, else the next free one. Held for `OFFER_HOLD_SECS`.
    pub fn offer(
        &mut self,
        mac: Mac,
        range: &PoolRange,
        requested: Option<Ipv4Addr>,
        now: u64,
    ) -> Option<Ipv4Addr> {
        let current = self
            .leases
            .get(&mac)
            .map(|l| l.ip)
            .or_else(|| self.offers.get(&mac).map(|o| o.ip));
        let pick = [current, requested]
            .into_iter()
            .flatten()
            .find(|&ip| range.contains(ip) && self.is_free_for(ip, &mac, now))
            .or_else(|| self.scan(range, &mac, now))?;
        if let Some(old) = self.offers.insert(
            mac,
            Lease {
                ip: pick,
                expires: now + OFFER_HOLD_SECS,
            },
        ) {
            if self.offered.get(&old.ip) == Some(&mac) {
                self.offered.remove(&old.ip);
            }
        }
        self.offered.insert(pick, mac);
        Some(pick)
    }

    fn scan(&mut self, range: &PoolRange, mac: &Mac, now: u64) -> Option<Ipv4Addr> {
        let n = range.len();
        let start = u32::from(range.start);
        let cur = self.cursor.entry(range.start).or_insert(0);
        let from = *cur % n;
        for i in 0..n {
            let off = (from + i) % n;
            let ip = Ipv4Addr::from(start + off);
            if self.is_free_for(ip, mac, now) {
                *self.cursor.get_mut(&range.start)? = off + 1;
                return Some(ip);
            }
        }
        None
    }

    /// A REQUEST for `ip`: binds it if it is free for `mac` and inside the
    /// range. Returns the journal record to make durable before the ACK.
    pub fn request(
        &mut self,
        mac: Mac,
        ip: Ipv4Addr,
        range: &PoolRange,
        lease_secs: u32,
        now: u64,
    ) -> Option<Record> {
        if !range.contains(ip) || !self.is_free_for(ip, &mac, now) {
            return None;
        }
        if let Some(o) = self.offers.remove(&mac) {
            if self.offered.get(&o.ip) == Some(&mac) {
                self.offered.remove(&o.ip);
            }
        }
        let expires = now + u64::from(lease_secs);
        self.bind(mac, Lease { ip, expires });
        Some(Record::Lease { mac, ip, expires })
    }

    /// The client chose another server: forget our offer.
    pub fn withdraw_offer(&mut self, mac: &Mac) {
        if let Some(o) = self.offers.remove(mac) {
            if self.offered.get(&o.ip) == Some(mac) {
                self.offered.remove(&o.ip);
            }
        }
    }

    pub fn release(&mut self, mac: Mac, ip: Ipv4Addr) -> Option<Record> {
        let l = self.leases.get(&mac)?;
        if l.ip != ip {
            return None;
        }
        let rec = Record::Release { mac, ip };
        self.apply(&rec);
        Some(rec)
    }

    /// The client found `ip` in use (ARP): avoid it for a while.
    pub fn decline(&mut self, mac: Mac, ip: Ipv4Addr, now: u64) -> Option<Record> {
        self.declined.insert(ip, now + DECLINE_HOLD_SECS);
        self.withdraw_offer(&mac);
        self.release(mac, ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(n: u8) -> Mac {
        Mac([2, 0, 0, 0, 0, n])
    }
    fn ip(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, n)
    }
    fn range() -> PoolRange {
        PoolRange {
            start: ip(10),
            end: ip(12),
        }
    }

    #[test]
    fn offers_distinct_addresses_and_skips_reserved() {
        let mut p = Pool::new([ip(11)]);
        assert_eq!(p.offer(mac(1), &range(), None, 0), Some(ip(10)));
        assert_eq!(p.offer(mac(2), &range(), None, 0), Some(ip(12)));
        assert_eq!(p.offer(mac(3), &range(), None, 0), None, "pool exhausted");
        // The offer hold runs out.
        assert_eq!(
            p.offer(mac(3), &range(), None, OFFER_HOLD_SECS + 1),
            Some(ip(10))
        );
    }

    #[test]
    fn same_client_keeps_its_address() {
        let mut p = Pool::new([]);
        let a = p.offer(mac(1), &range(), None, 0).unwrap();
        assert!(p.request(mac(1), a, &range(), 100, 1).is_some());
        p.offer(mac(2), &range(), None, 2);
        assert_eq!(p.offer(mac(1), &range(), None, 3), Some(a));
        // Another MAC cannot take it while the lease lives, can after.
        assert!(p.request(mac(2), a, &range(), 100, 50).is_none());
        assert!(p.request(mac(2), a, &range(), 100, 200).is_some());
        assert_eq!(p.lease_of(&mac(1)), None, "stolen expired lease is dropped");
    }

    #[test]
    fn requested_address_is_honoured_when_free() {
        let mut p = Pool::new([]);
        assert_eq!(p.offer(mac(1), &range(), Some(ip(12)), 0), Some(ip(12)));
        assert_eq!(p.offer(mac(2), &range(), Some(ip(99)), 0), Some(ip(10)));
    }

    #[test]
    fn release_decline_and_replay() {
        let mut p = Pool::new([]);
        let r1 = p.request(mac(1), ip(10), &range(), 100, 0).unwrap();
        let r2 = p.request(mac(2), ip(11), &range(), 100, 0).unwrap();
        let r3 = p.release(mac(1), ip(10)).unwrap();
        assert!(p.release(mac(1), ip(10)).is_none());
        let r4 = p.decline(mac(2), ip(11), 0).unwrap();
        assert!(p.is_empty());
        assert_eq!(
            p.offer(mac(3), &range(), Some(ip(11)), 1),
            Some(ip(10)),
            "declined address avoided"
        );

        let mut q = Pool::new([]);
        for r in [r1, r2, r3] {
            q.apply(&r);
        }
        assert_eq!(q.live_records(0), vec![r2]);
        q.apply(&r4);
        assert!(q.live_records(0).is_empty());
    }
}
