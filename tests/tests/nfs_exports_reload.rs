//! `diskless-server serve` reloads its NFS exports with the inventory on
//! SIGHUP: an invalid inventory is refused and the old exports keep
//! serving; a node removed from an export loses access at its next call,
//! on a connection it already has and with handles (and open files) it
//! already holds. Loopback only: 127.0.0.1 plays the node; the writable
//! export's node list changes.

mod nfs_support;
use nfs_support::*;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn inventory(dir: &Path, export_nodes: &str) -> String {
    format!(
        r#"[cluster]
name = "reload"
server = "127.0.0.254"
subnet = "127.0.0.0/8"
boot_root = "{boot}"
nfs_root = "{ro}"
kernel = "bzImage"

[[nodes]]
name = "host"
mac = "52:54:00:00:00:01"
ip = "127.0.0.1"

[[nodes]]
name = "other"
mac = "52:54:00:00:00:02"
ip = "127.0.0.2"

[[exports]]
path = "{ro}"
access = "ro"
nodes = ["*"]

[[exports]]
path = "{rw}"
access = "rw"
nodes = [{export_nodes}]
"#,
        boot = dir.join("boot").display(),
        ro = dir.join("ro").display(),
        rw = dir.join("rw").display(),
    )
}

struct Serve {
    child: Child,
    log: std::path::PathBuf,
}

impl Serve {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (bounded) until the log holds `needle` `n` times.
    fn wait_log(&self, needle: &str, n: usize) {
        for _ in 0..300 {
            if self.log_text().matches(needle).count() >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server log never said {needle:?}:\n{}", self.log_text());
    }

    fn hup(&self) {
        let ok = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sighup_reloads_exports_and_refuses_an_invalid_inventory() {
    let tree = Tree::new();
    let dir = tree.dir.path();
    std::fs::create_dir_all(dir.join("boot")).unwrap();
    let inv = dir.join("inventory.toml");
    std::fs::write(&inv, inventory(dir, r#""host""#)).unwrap();
    let port = free_port();
    let log = dir.join("server.log");
    let child = Command::new(server_bin())
        .args(["serve", "--inventory"])
        .arg(&inv)
        .args(["--no-tftp", "--no-http", "--no-dhcp", "--no-portmap"])
        .args(["--listen", "127.0.0.1", "--nfs-port", &port.to_string()])
        .arg("--nfs-key")
        .arg(tree.key())
        .env("DISKLESS_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn diskless-server");
    let srv = Serve { child, log };
    srv.wait_log("ready:", 1);

    std::fs::write(tree.rw().join("hello.txt"), b"hello from diskless\n").unwrap();
    let rw = tree.rw().display().to_string();
    let mut c = Client::connect(port, None);
    let (st, root) = c.mnt(&rw);
    assert_eq!(st, 0, "{}", srv.log_text());
    let (st, hello) = c.lookup(&root, "hello.txt");
    assert_eq!(st, 0);
    assert_eq!(c.read(&hello, 0, 5), (0, b"hello".to_vec()));

    // An invalid inventory is refused; the old exports keep serving.
    std::fs::write(&inv, "[cluster\nname = ").unwrap();
    srv.hup();
    srv.wait_log("reload refused", 1);
    assert_eq!(c.getattr(&root), 0);
    assert_eq!(c.read(&hello, 0, 5), (0, b"hello".to_vec()));
    assert_eq!(Client::connect(port, None).mnt(&rw).0, 0);

    // A valid inventory without this node in the export: refused at its
    // next call, on the same connection, with the handles it holds.
    std::fs::write(&inv, inventory(dir, r#""other""#)).unwrap();
    srv.hup();
    srv.wait_log("inventory reloaded", 1);
    assert_eq!(c.getattr(&root), 13, "NFS3ERR_ACCES");
    assert_eq!(c.read(&hello, 0, 5).0, 13, "a cached open file too");
    assert_eq!(c.lookup(&root, "hello.txt").0, 13);
    assert_eq!(Client::connect(port, None).mnt(&rw).0, 13, "MNT3ERR_ACCES");

    // Put back: access returns, the old handles are still good.
    std::fs::write(&inv, inventory(dir, r#""host""#)).unwrap();
    srv.hup();
    srv.wait_log("inventory reloaded", 2);
    assert_eq!(c.getattr(&root), 0);
    assert_eq!(c.read(&hello, 6, 4), (0, b"from".to_vec()));
}
