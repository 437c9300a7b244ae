//! AUTH_SYS identities are enforced on writable exports (mode bits, sticky
//! directories, owner-only chmod, new files owned by the caller); the
//! read-only root export is not root-squashed and refuses every change.

mod nfs_support;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use diskless_nfs::rpc::Cred;
use diskless_nfs::xdr::{Reader, Writer};
use nfs_support::*;

const ACCES: u32 = 13;
const PERM: u32 = 1;
const ROFS: u32 = 30;

fn create(c: &mut Client, dir: &[u8], name: &str) -> u32 {
    let mut a = Vec::new();
    let mut w = Writer::new(&mut a);
    w.opaque(dir);
    w.opaque(name.as_bytes());
    w.u32(0); // UNCHECKED
    w.bool(true);
    w.u32(0o644);
    for _ in 0..4 {
        w.bool(false); // uid, gid, size
    }
    w.u32(0);
    w.u32(0);
    c.nfs(8, &a).0
}

fn chmod(c: &mut Client, fh: &[u8], mode: u32) -> u32 {
    let mut a = Vec::new();
    let mut w = Writer::new(&mut a);
    w.opaque(fh);
    w.bool(true);
    w.u32(mode);
    for _ in 0..3 {
        w.bool(false);
    }
    w.u32(0);
    w.u32(0);
    w.bool(false); // no guard
    c.nfs(2, &a).0
}

fn remove(c: &mut Client, dir: &[u8], name: &str) -> u32 {
    let mut a = Vec::new();
    let mut w = Writer::new(&mut a);
    w.opaque(dir);
    w.opaque(name.as_bytes());
    c.nfs(12, &a).0
}

fn access(c: &mut Client, fh: &[u8]) -> u32 {
    let mut a = Vec::new();
    let mut w = Writer::new(&mut a);
    w.opaque(fh);
    w.u32(0x3f);
    let (st, body) = c.nfs(4, &a);
    assert_eq!(st, 0);
    let mut r = Reader::new(&body);
    if r.bool().unwrap() {
        r.fixed(84).unwrap();
    }
    r.u32().unwrap()
}

#[test]
fn auth_sys_is_enforced_on_writable_exports() {
    let tree = Tree::new();
    let rw = tree.rw();
    std::fs::set_permissions(&rw, std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::write(rw.join("rootfile"), b"root's").unwrap();
    std::fs::write(tree.ro().join("shadow"), b"secret hash").unwrap();
    std::fs::set_permissions(
        tree.ro().join("shadow"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let port = free_port();
    let _srv = Server::start(&tree.specs(&["127.0.0.1"]), &tree.key(), port);

    let mut user = Client::connect(port, None);
    user.cred = Cred {
        uid: 1000,
        gid: 1000,
        gids: vec![1000],
    };
    let (_, root) = user.mnt(&rw.display().to_string());
    let (st, rootfile) = user.lookup(&root, "rootfile");
    assert_eq!(st, 0);

    // Not the owner, no write bit for others.
    assert_eq!(user.write(&rootfile, 0, b"x").0, ACCES);
    assert_eq!(chmod(&mut user, &rootfile, 0o666), PERM);
    assert_eq!(access(&mut user, &rootfile) & 0x0c, 0, "no MODIFY/EXTEND");
    // Sticky directory: may not remove root's file.
    assert_eq!(remove(&mut user, &root, "rootfile"), ACCES);
    assert!(rw.join("rootfile").exists());

    // New files belong to the caller and honour the requested mode.
    assert_eq!(create(&mut user, &root, "mine"), 0);
    let meta = std::fs::metadata(rw.join("mine")).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o777),
        (1000, 1000, 0o644)
    );
    let (_, mine) = user.lookup(&root, "mine");
    assert_eq!(user.write(&mine, 0, b"ok").0, 0);
    assert_eq!(chmod(&mut user, &mine, 0o600), 0);
    assert_eq!(remove(&mut user, &root, "mine"), 0);

    // Another user cannot touch the first user's 0600 file.
    assert_eq!(create(&mut user, &root, "private"), 0);
    let (_, private) = user.lookup(&root, "private");
    assert_eq!(chmod(&mut user, &private, 0o600), 0);
    let mut other = Client::connect(port, None);
    other.cred = Cred {
        uid: 1001,
        gid: 1001,
        gids: vec![],
    };
    assert_eq!(other.read(&private, 0, 10).0, ACCES);
    assert_eq!(remove(&mut other, &root, "private"), ACCES);

    // Root export: root reads a 0600 file (no squash), nothing changes.
    let mut rootc = Client::connect(port, None);
    let (_, ro) = rootc.mnt(&tree.ro().display().to_string());
    let (st, shadow) = rootc.lookup(&ro, "shadow");
    assert_eq!(st, 0);
    assert_eq!(rootc.read(&shadow, 0, 100), (0, b"secret hash".to_vec()));
    assert_eq!(create(&mut rootc, &ro, "new"), ROFS);
    assert_eq!(rootc.write(&shadow, 0, b"x").0, ROFS);
    assert_eq!(chmod(&mut rootc, &shadow, 0o644), ROFS);
    assert_eq!(remove(&mut rootc, &ro, "shadow"), ROFS);
    assert_eq!(
        access(&mut rootc, &shadow) & 0x1c,
        0,
        "no write bits on a read-only export"
    );
}
