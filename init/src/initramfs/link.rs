//! Choosing and raising the boot interface: the one `ip=` names, or the
//! first (by name) that reports a carrier. Drivers probe asynchronously
//! after `finit_module`, so both wait for the interface to appear.

use crate::sys::Sys;
use crate::{info, warn};
use std::time::Duration;

const NET: &str = "/sys/class/net";
const POLL: Duration = Duration::from_millis(100);

/// Network interfaces other than loopback, sorted.
pub fn interfaces(sys: &dyn Sys) -> Vec<String> {
    sys.list_dir(NET)
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n != "lo")
        .collect()
}

pub fn has_carrier(sys: &dyn Sys, ifname: &str) -> bool {
    sys.read_file(&format!("{NET}/{ifname}/carrier"))
        .map(|s| s.trim() == "1")
        .unwrap_or(false)
}

/// Brings the boot interface up and returns its name.
pub fn bring_up(
    sys: &mut dyn Sys,
    device: Option<&str>,
    timeout: Duration,
) -> Result<String, String> {
    let start = sys.monotonic();
    let mut raised: Vec<String> = vec![];
    loop {
        let waited = sys.monotonic().saturating_sub(start);
        let ifs = interfaces(sys);
        for i in &ifs {
            let wanted = device.is_none_or(|d| d == i);
            if wanted && !raised.contains(i) {
                if let Err(e) = sys.link_up(i) {
                    warn!("bringing {i} up: {e}");
                }
                raised.push(i.clone());
            }
        }
        let ready = raised.iter().find(|i| has_carrier(sys, i));
        if let Some(i) = ready {
            info!("using {i} (carrier after {:.1} s)", waited.as_secs_f64());
            return Ok(i.clone());
        }
        if waited >= timeout {
            return match (device, raised.first()) {
                // A named device without carrier is still worth a try.
                (Some(d), Some(_)) => {
                    warn!("{d} reports no carrier after {} s; trying it anyway", timeout.as_secs());
                    Ok(d.to_string())
                }
                (Some(d), None) => Err(format!(
                    "interface {d} (from ip=) did not appear within {} s; interfaces: [{}]. Check the NIC driver (diskless-mkimage initramfs --nic) and the device name",
                    timeout.as_secs(),
                    ifs.join(", ")
                )),
                (None, _) if ifs.is_empty() => Err(format!(
                    "no network interface appeared within {} s: the image has no driver for this NIC (rebuild with diskless-mkimage initramfs --nic DRIVER or --all-nics)",
                    timeout.as_secs()
                )),
                (None, _) => Err(format!(
                    "no interface has a link after {} s (tried {}): check the cable or switch port",
                    timeout.as_secs(),
                    ifs.join(", ")
                )),
            };
        }
        sys.sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fake::{Call, FakeSys};

    fn net(ifs: &[(&str, &str)]) -> FakeSys {
        let mut s = FakeSys::new().with_dir(NET).with_dir("/sys/class/net/lo");
        for (i, carrier) in ifs {
            s = s
                .with_dir(&format!("{NET}/{i}"))
                .with_file(&format!("{NET}/{i}/carrier"), carrier);
        }
        s
    }

    #[test]
    fn first_with_carrier_wins() {
        let mut s = net(&[("eth0", "0\n"), ("eth1", "1\n")]);
        assert_eq!(
            bring_up(&mut s, None, Duration::from_secs(5)).unwrap(),
            "eth1"
        );
        assert!(s.calls.contains(&Call::LinkUp("eth0".into())));
        assert!(!s.calls.contains(&Call::LinkUp("lo".into())));
    }

    #[test]
    fn named_device_only() {
        let mut s = net(&[("eth0", "1"), ("eth1", "1")]);
        assert_eq!(
            bring_up(&mut s, Some("eth1"), Duration::from_secs(5)).unwrap(),
            "eth1"
        );
        assert!(!s.calls.contains(&Call::LinkUp("eth0".into())));
    }

    #[test]
    fn named_device_without_carrier_is_tried() {
        let mut s = net(&[("eth0", "0")]);
        assert_eq!(
            bring_up(&mut s, Some("eth0"), Duration::from_secs(1)).unwrap(),
            "eth0"
        );
    }

    #[test]
    fn no_interface_says_which_driver_to_add() {
        let mut s = net(&[]);
        let e = bring_up(&mut s, None, Duration::from_secs(1)).unwrap_err();
        assert!(e.contains("--nic"), "{e}");
        let e = bring_up(&mut s, Some("eth3"), Duration::from_secs(1)).unwrap_err();
        assert!(e.contains("eth3"), "{e}");
        let mut s = net(&[("eth0", "0")]);
        let e = bring_up(&mut s, None, Duration::from_secs(1)).unwrap_err();
        assert!(e.contains("no interface has a link"), "{e}");
    }
}
