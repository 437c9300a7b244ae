//! Per-node DHCP events for the status view, and drop counters.
//!
//! Cheap to update from the packet path: one mutex around a map keyed by
//! MAC (bounded), counters are atomics.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use diskless_common::inventory::Mac;

/// Most MACs remembered; beyond this, unknown MACs are no longer tracked
/// (a flood of random MACs must not grow memory without bound).
pub const MAX_TRACKED: usize = 65_536;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Seen,
    Offered,
    Acked,
    Nacked,
    Declined,
    Released,
    Informed,
}

/// What we know about one MAC.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeEvents {
    /// Inventory node name, when the MAC is known.
    pub node: Option<String>,
    pub seen: u64,
    pub offered: u64,
    pub acked: u64,
    pub nacked: u64,
    pub last_ip: Option<Ipv4Addr>,
    /// Boot file we told it to fetch last.
    pub last_file: Option<String>,
    /// The most recent event (a reply overwrites the request it answers),
    /// so a node that reboots shows `Offered` again, not its old `Acked`.
    pub last_kind: Option<Kind>,
    /// Unix seconds of the last event.
    pub last_time: u64,
}

#[derive(Default)]
pub struct Counters {
    pub malformed: AtomicU64,
    pub ignored_unknown: AtomicU64,
    pub not_for_us: AtomicU64,
    pub replies: AtomicU64,
}

#[derive(Default)]
pub struct Events {
    nodes: Mutex<HashMap<Mac, NodeEvents>>,
    pub counters: Counters,
}

impl Events {
    pub fn record(
        &self,
        mac: Mac,
        node: Option<&str>,
        kind: Kind,
        ip: Option<Ipv4Addr>,
        file: Option<&str>,
        now: u64,
    ) {
        let Ok(mut map) = self.nodes.lock() else {
            return;
        };
        if map.len() >= MAX_TRACKED && !map.contains_key(&mac) {
            return;
        }
        let e = map.entry(mac).or_default();
        if e.node.is_none() {
            e.node = node.map(str::to_owned);
        }
        match kind {
            Kind::Seen => e.seen += 1,
            Kind::Offered => e.offered += 1,
            Kind::Acked | Kind::Informed => e.acked += 1,
            Kind::Nacked => e.nacked += 1,
            Kind::Declined | Kind::Released => {}
        }
        if ip.is_some() {
            e.last_ip = ip;
        }
        if let Some(f) = file {
            e.last_file = Some(f.to_owned());
        }
        e.last_kind = Some(kind);
        e.last_time = now;
    }

    pub fn get(&self, mac: &Mac) -> Option<NodeEvents> {
        self.nodes.lock().ok()?.get(mac).cloned()
    }

    pub fn snapshot(&self) -> Vec<(Mac, NodeEvents)> {
        let Ok(map) = self.nodes.lock() else {
            return Vec::new();
        };
        let mut v: Vec<_> = map.iter().map(|(m, e)| (*m, e.clone())).collect();
        v.sort_by_key(|(m, _)| *m);
        v
    }

    pub fn malformed(&self) -> u64 {
        self.counters.malformed.load(Ordering::Relaxed)
    }

    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_per_mac() {
        let ev = Events::default();
        let m = Mac([0, 0x18, 0xf3, 0x70, 0x91, 0xb9]);
        ev.record(m, Some("cartman"), Kind::Seen, None, None, 1);
        ev.record(
            m,
            Some("cartman"),
            Kind::Offered,
            Some(Ipv4Addr::new(172, 16, 1, 10)),
            Some("pxelinux.0"),
            2,
        );
        ev.record(m, Some("cartman"), Kind::Acked, None, None, 3);
        let e = ev.get(&m).unwrap();
        assert_eq!((e.seen, e.offered, e.acked), (1, 1, 1));
        assert_eq!(e.node.as_deref(), Some("cartman"));
        assert_eq!(e.last_file.as_deref(), Some("pxelinux.0"));
        assert_eq!(e.last_time, 3);
        Events::bump(&ev.counters.malformed);
        assert_eq!(ev.malformed(), 1);
    }
}
