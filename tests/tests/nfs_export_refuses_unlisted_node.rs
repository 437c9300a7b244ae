//! A node not in an export's list is refused at MOUNT and at every NFS
//! call, even holding a valid handle. Two loopback addresses play the
//! nodes: 127.0.0.2 is listed, 127.0.0.3 is not.

mod nfs_support;
use nfs_support::*;

#[test]
fn unlisted_node_is_refused_at_mount_and_nfs() {
    let tree = Tree::new();
    let port = free_port();
    let _srv = Server::start(&tree.specs(&["127.0.0.2"]), &tree.key(), port);
    let ro = tree.ro().display().to_string();

    let mut good = Client::connect(port, Some("127.0.0.2".parse().unwrap()));
    let (st, root) = good.mnt(&ro);
    assert_eq!(st, 0);
    let (st, hello) = good.lookup(&root, "hello.txt");
    assert_eq!(st, 0);
    assert_eq!(good.read(&hello, 0, 5).1, b"hello");

    let mut bad = Client::connect(port, Some("127.0.0.3".parse().unwrap()));
    assert_eq!(bad.mnt(&ro).0, 13, "MNT3ERR_ACCES");
    assert_eq!(bad.getattr(&root), 13, "NFS3ERR_ACCES");
    assert_eq!(bad.getattr(&hello), 13);
    assert_eq!(bad.lookup(&root, "hello.txt").0, 13);
    assert_eq!(bad.read(&hello, 0, 5).0, 13);
    // EXPORT tells a stranger nothing.
    let (st, body) = bad.call(MOUNT, 5, &[]);
    assert_eq!(st, 0);
    assert_eq!(body, [0, 0, 0, 0]);

    // 127.0.0.1 (the default source) is not listed either.
    let mut local = Client::connect(port, None);
    assert_eq!(local.mnt(&ro).0, 13);
}
