use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use arc_swap::ArcSwap;
use diskless_common::report::{Report, Stage as ReportStage};
use diskless_dhcp::events::Kind;
use diskless_dhcp::Events;
use diskless_tftp::BootFiles;

use super::listener::{accept, Outcome};
use super::*;

fn status() -> Status {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/seed-inventory.toml"
    ))
    .unwrap();
    let inv = diskless_common::inventory::load_str(&text, "seed").unwrap();
    let files = BootFiles::open(&std::env::temp_dir(), 1 << 20).unwrap();
    Status::new(Arc::new(Shared {
        inventory: ArcSwap::from_pointee(inv),
        files: ArcSwap::from_pointee(files),
        http_base: ArcSwap::from_pointee(String::new()),
    }))
}

const CARTMAN: IpAddr = IpAddr::V4(Ipv4Addr::new(172, 16, 1, 10));

fn node<'a>(v: &'a View, name: &str) -> &'a NodeStatus {
    v.nodes.iter().find(|n| n.name == name).unwrap()
}

fn report() -> Report {
    let mut r = Report::new(ReportStage::ServicesUp);
    r.host = Some("cartman".into());
    r.running = Some(3);
    r.timings = vec![("init".into(), 398), ("boot".into(), 4211)];
    r
}

#[test]
fn every_inventory_node_listed_even_without_events() {
    let v = status().view();
    let names: Vec<&str> = v.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["cartman", "stan", "kenny"]);
    assert!(v
        .nodes
        .iter()
        .all(|n| n.stage.is_none() && n.stages.is_empty()));
    assert_eq!(node(&v, "cartman").mac, "00:18:f3:70:91:b9");
}

#[test]
fn stages_in_boot_order_with_times() {
    let st = status();
    let ev = Arc::new(Events::default());
    st.attach_dhcp(ev.clone());
    let mac = "00:18:f3:70:91:b9".parse().unwrap();
    ev.record(mac, Some("cartman"), Kind::Seen, None, None, 100);
    ev.record(
        mac,
        Some("cartman"),
        Kind::Offered,
        Some(Ipv4Addr::new(172, 16, 1, 10)),
        Some("pxelinux.0"),
        100,
    );
    ev.record(mac, Some("cartman"), Kind::Acked, None, None, 100);
    let v = st.view();
    let c = node(&v, "cartman");
    assert_eq!(c.stage, Some(Stage::Dhcp));
    assert_eq!(c.at_ms, Some(100_000));
    assert_eq!(c.stages[&Stage::Dhcp].detail, "ack, boot file pxelinux.0");

    st.file_sent(CARTMAN, "pxelinux.0", "tftp", 100_400);
    st.file_sent(
        CARTMAN,
        "pxelinux.cfg/01-00-18-f3-70-91-b9",
        "tftp",
        100_500,
    );
    assert_eq!(node(&st.view(), "cartman").stage, Some(Stage::Loader));
    // The kernel as the inventory names it, also under the boot_root alias.
    st.file_sent(CARTMAN, "/tftpboot/linux-cls1", "tftp", 101_000);
    st.mounted(CARTMAN, "/home/common/cluster", 105_000);
    // /culc is not the root: no stage change.
    st.mounted(CARTMAN, "/home/common/culc", 106_000);
    let c = node(&st.view(), "cartman").clone();
    assert_eq!(c.stage, Some(Stage::Root));
    assert_eq!(c.at_ms, Some(105_000));
    assert_eq!(
        c.stages[&Stage::Loader].detail,
        "pxelinux.cfg/01-00-18-f3-70-91-b9 (tftp)"
    );
    assert_eq!(
        c.stages[&Stage::Kernel].detail,
        "kernel tftpboot/linux-cls1 (tftp)"
    );
    assert_eq!(c.stages[&Stage::Root].detail, "MOUNT /home/common/cluster");

    let node_rec = st.node_at(CARTMAN).unwrap();
    st.reported(&node_rec, &report(), 107_000);
    let v = st.view();
    let c = node(&v, "cartman");
    assert_eq!(c.stage, Some(Stage::Init));
    assert_eq!(c.stages[&Stage::Init].detail, "services up, 3 running");
    let init = c.init.as_ref().unwrap();
    assert_eq!(init.timings_ms["init"], 398);
    assert_eq!(init.timings_ms["boot"], 4211);
    // Others untouched.
    assert!(node(&v, "stan").stage.is_none());

    // A reboot: DHCP later than everything else is the last stage again.
    ev.record(mac, Some("cartman"), Kind::Seen, None, None, 200);
    assert_eq!(node(&st.view(), "cartman").stage, Some(Stage::Dhcp));
}

#[test]
fn ties_go_to_the_later_stage() {
    let st = status();
    st.file_sent(CARTMAN, "linux-cls1", "http", 5_000);
    st.file_sent(CARTMAN, "boot.ipxe", "http", 5_000);
    assert_eq!(node(&st.view(), "cartman").stage, Some(Stage::Kernel));
}

#[test]
fn strangers_are_not_recorded() {
    let st = status();
    let pool = IpAddr::V4(Ipv4Addr::new(172, 16, 1, 200));
    let outside = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 10));
    st.file_sent(pool, "linux-cls1", "tftp", 1);
    st.mounted(outside, "/home/common/cluster", 1);
    assert!(st.nodes.lock().unwrap().is_empty());
    let bytes = report().emit().unwrap();
    assert_eq!(accept(&st, pool, &bytes, 1), Outcome::Stranger);
    assert_eq!(accept(&st, outside, &bytes, 1), Outcome::Stranger);
    assert!(st.nodes.lock().unwrap().is_empty());
}

#[test]
fn reports_accepted_from_nodes_and_malformed_refused() {
    let st = status();
    let bytes = report().emit().unwrap();
    assert_eq!(
        accept(&st, CARTMAN, &bytes, 7),
        Outcome::Accepted(
            "cartman init up (services up 398 ms after init start, 4211 ms after kernel start)"
                .into()
        )
    );
    // IPv4-mapped IPv6 (a dual-stack socket) is the same node.
    let mapped = IpAddr::V6(Ipv4Addr::new(172, 16, 1, 10).to_ipv6_mapped());
    assert!(matches!(
        accept(&st, mapped, &bytes, 8),
        Outcome::Accepted(_)
    ));
    let mut other = report();
    other.host = Some("kyle".into());
    let Outcome::Accepted(line) = accept(&st, CARTMAN, &other.emit().unwrap(), 8) else {
        panic!("refused");
    };
    assert!(line.ends_with("; it calls itself \"kyle\""), "{line}");
    assert!(matches!(
        accept(&st, CARTMAN, b"GET / HTTP/1.0\r\n\r\n", 9),
        Outcome::Malformed(_)
    ));
    assert!(matches!(
        accept(&st, CARTMAN, &[0xff; 4096], 9),
        Outcome::Malformed(_)
    ));
    assert_eq!(node(&st.view(), "cartman").at_ms, Some(8));
}

#[test]
fn view_serializes_with_stage_names() {
    let st = status();
    st.file_sent(CARTMAN, "linux-cls1", "tftp", 1_000);
    let json = serde_json::to_value(st.view()).unwrap();
    let c = &json["nodes"][0];
    assert_eq!(c["name"], "cartman");
    assert_eq!(c["stage"], "kernel");
    assert_eq!(c["stages"]["kernel"]["at_ms"], 1000);
    let back: View = serde_json::from_value(json).unwrap();
    assert_eq!(back.nodes[0].stage, Some(Stage::Kernel));
    let table = super::table::render(&back);
    assert!(table.starts_with("NODE "), "{table}");
    assert!(table.contains("cartman  172.16.1.10  kernel"), "{table}");
}

#[test]
fn dhcp_detail_is_the_last_message_not_the_furthest() {
    let st = status();
    let ev = Arc::new(Events::default());
    st.attach_dhcp(ev.clone());
    let mac = "00:18:f3:70:91:b9".parse().unwrap();
    ev.record(mac, Some("cartman"), Kind::Acked, None, None, 100);
    // The node reboots: an offer after the old ack.
    ev.record(mac, Some("cartman"), Kind::Seen, None, None, 200);
    ev.record(mac, Some("cartman"), Kind::Offered, None, None, 200);
    let v = st.view();
    assert_eq!(node(&v, "cartman").stages[&Stage::Dhcp].detail, "offer");
}

fn temp_file(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("diskless-status-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d.join("state/status.json")
}

#[test]
fn history_survives_a_restart_through_the_status_file() {
    let st = status();
    st.file_sent(CARTMAN, "linux-cls1", "tftp", 1_000);
    st.mounted(CARTMAN, "/home/common/cluster", 2_000);
    st.reported(&st.node_at(CARTMAN).unwrap(), &report(), 3_000);
    let path = temp_file("restart");
    store::save(&path, &store::encode(&st.view())).unwrap();

    // A new server: nothing live yet, the saved stages shown.
    let again = status().with_restored(store::load(&path).unwrap());
    let v = again.view();
    let c = node(&v, "cartman");
    assert_eq!(c.stage, Some(Stage::Init));
    assert_eq!(c.at_ms, Some(3_000));
    assert_eq!(c.init.as_ref().unwrap().timings_ms["init"], 398);
    assert_eq!(c.stages.len(), 3);
    assert!(node(&v, "stan").stage.is_none());

    // Live events newer than the saved ones win.
    again.file_sent(CARTMAN, "linux-cls1", "http", 9_000);
    let v = again.view();
    let c = node(&v, "cartman");
    assert_eq!(c.stage, Some(Stage::Kernel));
    assert_eq!(c.stages[&Stage::Kernel].detail, "kernel linux-cls1 (http)");
    assert_eq!(c.stages[&Stage::Root].at_ms, 2_000);
    let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
}

#[test]
fn saved_stages_of_a_node_whose_mac_changed_are_dropped() {
    let st = status();
    st.file_sent(CARTMAN, "linux-cls1", "tftp", 1_000);
    let mut view = st.view();
    view.nodes[0].mac = "02:00:00:00:00:01".into();
    let path = temp_file("mac");
    store::save(&path, &store::encode(&view)).unwrap();
    let again = status().with_restored(store::load(&path).unwrap());
    assert!(node(&again.view(), "cartman").stage.is_none());
    let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
}

#[test]
fn missing_corrupt_or_foreign_status_files() {
    let path = temp_file("bad");
    assert!(store::load(&path).unwrap().is_empty());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    for (bytes, want) in [
        (
            &b"{\"version\": 1, \"nodes\": [{\"ip\": \"x\"}"[..],
            "not a status file",
        ),
        (&b"\xff\xfe garbage"[..], "not a status file"),
        (
            &b"{\"version\": 99, \"saved_ms\": 0, \"nodes\": []}"[..],
            "version 99",
        ),
    ] {
        std::fs::write(&path, bytes).unwrap();
        let e = store::load(&path).unwrap_err().to_string();
        assert!(e.contains(want) && e.contains("status.json"), "{e}");
    }
    // A directory where the file should be: a read error, not a panic.
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    assert!(store::load(&path).is_err());
    assert!(store::save(&path, b"{}").is_err());
    let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
}

#[test]
fn alive_reports_refresh_last_seen_without_moving_init_up() {
    let st = status();
    let node_rec = st.node_at(CARTMAN).unwrap();
    st.reported(&node_rec, &report(), 7_000);
    let mut alive = report();
    alive.stage = ReportStage::Alive;
    assert_eq!(
        accept(&st, CARTMAN, &alive.emit().unwrap(), 67_000),
        Outcome::Alive
    );
    let v = st.view();
    let c = node(&v, "cartman");
    assert_eq!(c.stage, Some(Stage::Init));
    assert_eq!(c.at_ms, Some(7_000));
    assert_eq!(c.last_seen_ms, Some(67_000));
    let mut v2 = v.clone();
    v2.now_ms = 70_000;
    let table = super::table::render(&v2);
    let line = table.lines().find(|l| l.starts_with("cartman")).unwrap();
    assert!(line.contains("init up  3s"), "{table}");
}

#[test]
fn a_node_up_before_the_server_shows_as_alive() {
    let st = status();
    let mut alive = report();
    alive.stage = ReportStage::Alive;
    assert_eq!(
        accept(&st, CARTMAN, &alive.emit().unwrap(), 5_000),
        Outcome::Alive
    );
    accept(&st, CARTMAN, &alive.emit().unwrap(), 65_000);
    let v = st.view();
    let c = node(&v, "cartman");
    assert_eq!(c.stage, Some(Stage::Init));
    assert_eq!(c.stages[&Stage::Init].detail, "alive, 3 running");
    assert_eq!(c.stages[&Stage::Init].at_ms, 5_000);
    assert_eq!(c.last_seen_ms, Some(65_000));
    // Strangers' alive reports are refused like any other.
    let pool = IpAddr::V4(Ipv4Addr::new(172, 16, 1, 200));
    assert_eq!(
        accept(&st, pool, &alive.emit().unwrap(), 1),
        Outcome::Stranger
    );
}
