//! The iPXE ROM of QEMU's e1000 (BIOS) gets cartman's address from
//! `diskless-server serve` and, because it says user class `iPXE`, the
//! per-node iPXE script URL over HTTP — which it then fetches from us.

mod dhcp_support;

use std::path::PathBuf;
use std::time::Duration;

use dhcp_support::*;
use diskless_qemu::netns::{Netns, Proc};
use diskless_qemu::test_lock;
use diskless_qemu::vm::{Vm, VmConfig};

/// `diskless-server serve` on `inventory` in `ns` (no NFS, an empty boot
/// root), once its DHCP service listens; its log file.
fn serve(ns: &Netns, dir: &TempDir, inventory: &str) -> anyhow::Result<(Proc, PathBuf)> {
    let inv = dir.path().join("inventory.toml");
    std::fs::write(&inv, inventory)?;
    let boot = dir.path().join("boot");
    std::fs::create_dir_all(&boot)?;
    let log = dir.path().join("server.log");
    let bin = server_bin();
    let server = ns.spawn(
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
    for _ in 0..200 {
        if std::fs::read_to_string(&log).is_ok_and(|l| l.contains("DHCP listening")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((server, log))
}

#[test]
fn ipxe_rom_gets_address_and_script_url() -> anyhow::Result<()> {
    let _slot = test_lock();
    let ns = Netns::new("ipxe")?;
    ns.add_tap("tap0")?;
    let dir = TempDir::new("ipxe");
    let (_server, log) = serve(&ns, &dir, &seed_inventory_text())?;
    let server_log = || std::fs::read_to_string(&log).unwrap_or_default();
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

/// proxyDHCP with the real ROM: dnsmasq (own namespace on the same bridge)
/// hands out the address, we add the boot information; iPXE asks us on
/// port 4011 and then fetches its script from our HTTP service.
#[test]
fn ipxe_rom_boots_from_proxy_dhcp_beside_dnsmasq() -> anyhow::Result<()> {
    let _slot = test_lock();
    let ns = Netns::new("ipxeprx")?;
    ns.add_tap("tap0")?;
    let site = Netns::with_server("ipxesite", "192.0.2.2/32")?;
    ns.add_veth_peer("v1", &site, "site0", Some("172.16.1.2/24"))?;
    let dir = TempDir::new("ipxeprx");
    let dns_log = dir.path().join("dnsmasq.log");
    let _dnsmasq = site.spawn(
        &[
            "dnsmasq",
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--port=0",
            "--interface=site0",
            "--bind-interfaces",
            "--dhcp-authoritative",
            "--dhcp-range=172.16.1.100,172.16.1.150,255.255.255.0,1h",
            &format!(
                "--dhcp-leasefile={}",
                dir.path().join("dnsmasq.leases").display()
            ),
            "--log-dhcp",
            "--log-facility=-",
            "--pid-file=",
        ],
        Some(&dns_log),
    )?;
    let text = seed_inventory_text().replace(
        r#"dhcp_pool = "172.16.1.200-172.16.1.250""#,
        r#"dhcp_mode = "proxy""#,
    );
    let (_server, log) = serve(&ns, &dir, &text)?;
    let server_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let mut vm = Vm::start(&VmConfig::pxe("cartman", "tap0", CARTMAN_MAC), &ns)?;
    if vm.wait_for("boot.ipxe", Duration::from_secs(240)).is_err() {
        panic!(
            "iPXE never asked for its script\nconsole:\n{}\nserver log:\n{}\ndnsmasq log:\n{}",
            vm.console_text(),
            server_log(),
            std::fs::read_to_string(&dns_log).unwrap_or_default()
        );
    }
    let slog = server_log();
    assert!(slog.contains("proxyDHCP offer"), "{slog}");
    let console = vm.console_text();
    assert!(
        console.contains("172.16.1.1") && !console.contains("172.16.1.10/"),
        "the address must come from dnsmasq's range:\n{console}"
    );
    Ok(())
}
