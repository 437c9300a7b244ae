//! The iPXE ROM of QEMU's e1000 (BIOS) gets cartman's address from
//! `diskless-server serve` and, because it says user class `iPXE`, the
//! per-node iPXE script URL over HTTP — which it then fetches from us.

mod dhcp_support;

use std::time::Duration;

use dhcp_support::*;
use diskless_qemu::netns::Netns;
use diskless_qemu::test_lock;
use diskless_qemu::vm::{Vm, VmConfig};

#[test]
fn ipxe_rom_gets_address_and_script_url() -> anyhow::Result<()> {
    let _slot = test_lock();
    let ns = Netns::new("ipxe")?;
    ns.add_tap("tap0")?;
    let dir = TempDir::new("ipxe");
    let inv = dir.path().join("inventory.toml");
    std::fs::write(&inv, seed_inventory_text())?;
    let boot = dir.path().join("boot");
    std::fs::create_dir_all(&boot)?;
    let log = dir.path().join("server.log");
    let bin = server_bin();
    let _server = ns.spawn(
        &[
            bin.to_str().unwrap(),
            "serve",
            "--inventory",
            inv.to_str().unwrap(),
            "--boot-root",
            boot.to_str().unwrap(),
            "--no-nfs",
            "--lease-file",
            dir.path().join("leases").to_str().unwrap(),
        ],
        Some(&log),
    )?;
    let server_log = || std::fs::read_to_string(&log).unwrap_or_default();
    for _ in 0..200 {
        if server_log().contains("DHCP listening") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let cfg = VmConfig::pxe("cartman", "tap0", CARTMAN_MAC);
    let mut vm = Vm::start(&cfg, &ns)?;
    let url = "http://172.16.1.1/boot.ipxe?mac=00-18-f3-70-91-b9";
    let r = vm.wait_for("boot.ipxe", Duration::from_secs(240));
    if r.is_err() {
        panic!(
            "iPXE never asked for its script\nconsole:\n{}\nserver log:\n{}",
            vm.console_text(),
            server_log()
        );
    }
    let console = vm.console_text();
    assert!(
        console.contains("172.16.1.10"),
        "iPXE did not get cartman's address:\n{console}"
    );
    let slog = server_log();
    assert!(
        slog.contains("DHCP ACK") && slog.contains(url),
        "server did not hand out the script URL:\n{slog}"
    );
    Ok(())
}
