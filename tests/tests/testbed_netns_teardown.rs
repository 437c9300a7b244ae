//! The test bed's namespaces: processes started in one really run inside it
//! (they see `br0` with the server address and no default route), and
//! dropping the namespace kills them by PID and removes it.

use diskless_qemu::netns::Netns;
use std::path::Path;

use diskless_qemu::is_root;

#[test]
fn namespace_has_bridge_no_route_out_and_is_torn_down_with_its_processes() -> anyhow::Result<()> {
    if !is_root() {
        eprintln!("skipped: needs root");
        return Ok(());
    }
    let ns = Netns::new("teardown")?;
    ns.add_tap("tap0")?;
    ns.add_veth("cl0", Some("172.16.1.200/24"))?;
    let name = ns.name().to_string();

    let addrs = ns.exec(&["ip", "-4", "-o", "addr", "show", "dev", "br0"])?;
    assert!(addrs.contains("172.16.1.1/24"), "br0: {addrs}");
    let routes = ns.exec(&["ip", "route", "show", "default"])?;
    assert!(
        routes.trim().is_empty(),
        "a default route leaks out: {routes}"
    );
    let links = ns.exec(&["ip", "-o", "link", "show", "master", "br0"])?;
    assert!(
        links.contains("tap0") && links.contains("cl0-br"),
        "ports: {links}"
    );

    // A socket bound from run_in lives in the namespace: the bridge address
    // is only bindable there.
    let bound = ns.run_in(|| std::net::UdpSocket::bind("172.16.1.1:0").is_ok())?;
    assert!(bound);
    assert!(std::net::UdpSocket::bind("172.16.1.1:0").is_err());

    let proc = ns.spawn(&["sleep", "600"], None)?;
    let pid = proc.pid();
    std::mem::forget(proc); // left to the namespace's own teardown
    assert!(Path::new(&format!("/proc/{pid}")).exists());

    drop(ns);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    assert!(
        status.is_empty() || status.contains("State:\tZ"),
        "process {pid} survived its namespace"
    );
    assert!(!Path::new(&format!("/var/run/netns/{name}")).exists());
    Ok(())
}

#[test]
fn failing_command_in_namespace_reports_its_stderr() -> anyhow::Result<()> {
    if !is_root() {
        eprintln!("skipped: needs root");
        return Ok(());
    }
    let ns = Netns::new("errors")?;
    let err = ns.exec(&["ip", "link", "show", "no-such-dev"]).unwrap_err();
    assert!(err.to_string().contains("no-such-dev"), "{err}");
    let err = ns.exec(&["/nonexistent/program"]).unwrap_err();
    assert!(
        format!("{err:#}").contains("/nonexistent/program"),
        "{err:#}"
    );
    assert!(ns.exec(&[]).is_err());
    Ok(())
}
