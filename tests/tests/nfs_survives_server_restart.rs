//! Handles survive a server restart: the same handle reads and writes
//! after the server is stopped and started again, writes are accepted at
//! once (no grace period), and the write verifier changes so clients
//! resend unstable writes.

mod nfs_support;
use nfs_support::*;

#[test]
fn handles_and_writes_survive_restart() {
    let tree = Tree::new();
    let port = free_port();
    let specs = tree.specs(&["127.0.0.1"]);
    let srv = Server::start(&specs, &tree.key(), port);
    let mut c = Client::connect(port, None);
    let (st, ro_root) = c.mnt(&tree.ro().display().to_string());
    assert_eq!(st, 0);
    let (st, rw_root) = c.mnt(&tree.rw().display().to_string());
    assert_eq!(st, 0);
    let (st, hello) = c.lookup(&ro_root, "hello.txt");
    assert_eq!(st, 0);
    let (st, sub) = c.lookup(&ro_root, "sub");
    assert_eq!(st, 0);
    std::fs::write(tree.rw().join("log"), b"").unwrap();
    let (st, log) = c.lookup(&rw_root, "log");
    assert_eq!(st, 0);
    let (st, verf1) = c.write(&log, 0, b"before ");
    assert_eq!(st, 0);
    let (_, data) = c.read(&hello, 0, 100);
    assert_eq!(data, b"hello from diskless\n");

    // Restart: the old process's sockets are gone, a new one starts with
    // the key on disk.
    drop(c);
    drop(srv);
    let srv = Server::start(&specs, &tree.key(), port);
    let mut c = Client::connect(port, None);
    assert_eq!(c.getattr(&ro_root), 0);
    assert_eq!(c.getattr(&hello), 0);
    let (st, data) = c.read(&hello, 6, 4);
    assert_eq!((st, &data[..]), (0, &b"from"[..]));
    let (st, deep) = c.lookup(&sub, "deep.txt");
    assert_eq!(st, 0);
    assert_eq!(c.read(&deep, 0, 10).1, b"deep\n");
    // Writes are accepted immediately, and the verifier is new.
    let (st, verf2) = c.write(&log, 7, b"after");
    assert_eq!(st, 0);
    assert_ne!(verf1, verf2, "write verifier must change on restart");
    assert_eq!(
        std::fs::read(tree.rw().join("log")).unwrap(),
        b"before after"
    );

    // libnfs, a real client, works against the restarted server too.
    let (ok, out, err) = libnfs(
        "nfs-cat",
        &[&srv.url(&format!("{}/hello.txt", tree.ro().display()))],
    );
    assert!(ok, "{err}");
    assert_eq!(out, b"hello from diskless\n");

    // A deleted file's handle is stale, not an error of another kind.
    std::fs::remove_file(tree.rw().join("log")).unwrap();
    assert_eq!(c.getattr(&log), 70, "NFS3ERR_STALE");
}
