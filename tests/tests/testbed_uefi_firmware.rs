//! The test bed's UEFI path: OVMF starts from the launcher's pflash setup,
//! its console reaches the serial log, and it tries to network-boot from the
//! e1000 (iPXE's EFI driver), with no server on the segment.

use diskless_qemu::netns::Netns;
use diskless_qemu::test_lock;
use diskless_qemu::vm::{Firmware, Vm, VmConfig};
use std::time::Duration;

use diskless_qemu::is_root;

#[test]
fn ovmf_starts_and_tries_pxe_on_the_e1000() -> anyhow::Result<()> {
    if !is_root() {
        eprintln!("skipped: needs root");
        return Ok(());
    }
    let _slot = test_lock();
    let ns = Netns::new("uefi")?;
    ns.add_tap("tap0")?;
    let mut cfg = VmConfig::pxe("uefi", "tap0", "52:54:00:12:34:20");
    cfg.firmware = Firmware::Uefi;
    let mut vm = Vm::start(&cfg, &ns)?;
    vm.wait_for("PXE", Duration::from_secs(240))?;
    Ok(())
}
