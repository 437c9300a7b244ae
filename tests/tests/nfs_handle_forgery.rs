//! File handles cannot be forged, modified, truncated or moved into
//! another export; `..` at an export root stays there; symlinks are
//! returned to the client, never followed by the server.

mod nfs_support;
use diskless_nfs::xdr::{Reader, Writer};
use nfs_support::*;

const BADHANDLE: u32 = 10001;

#[test]
fn forged_modified_truncated_handles_are_refused() {
    let tree = Tree::new();
    let port = free_port();
    let _srv = Server::start(&tree.specs(&["127.0.0.1"]), &tree.key(), port);
    let mut c = Client::connect(port, None);
    let (_, ro) = c.mnt(&tree.ro().display().to_string());
    let (_, rw) = c.mnt(&tree.rw().display().to_string());
    let (st, hello) = c.lookup(&ro, "hello.txt");
    assert_eq!(st, 0);
    assert_eq!(c.getattr(&hello), 0);

    // Every single-byte modification.
    for i in 0..hello.len() {
        let mut h = hello.clone();
        h[i] ^= 0x41;
        assert_eq!(c.getattr(&h), BADHANDLE, "byte {i} modified");
    }
    // Every truncation, and an extension.
    for n in 0..hello.len() {
        assert_eq!(c.getattr(&hello[..n]), BADHANDLE, "truncated to {n}");
    }
    let mut longer = hello.clone();
    longer.push(0);
    assert_eq!(c.getattr(&longer), BADHANDLE);
    // The read-only export's file relabelled with the writable export's id
    // (bytes 1..4 of the compact layout): the MAC no longer matches.
    let mut moved = hello.clone();
    moved[1..4].copy_from_slice(&rw[1..4]);
    assert_eq!(c.getattr(&moved), BADHANDLE);
    // A handle made with another key (a different server / a forger).
    let other_key = diskless_nfs::handle::Key::from_bytes([9; 32]);
    let d = diskless_nfs::handle::open_seal(
        &diskless_nfs::handle::Key::load_or_create(&tree.key()).unwrap(),
        &hello,
        [tree.ro(), tree.rw()].map(|p| diskless_nfs::export::export_id(&p)),
    )
    .unwrap();
    let forged = diskless_nfs::handle::seal(&other_key, d.export_id, d.handle_type, d.f_handle);
    assert_eq!(c.getattr(&forged), BADHANDLE);
    // Garbage and empty.
    assert_eq!(c.getattr(&[0u8; 64]), BADHANDLE);
    assert_eq!(c.getattr(&[]), BADHANDLE);
}

#[test]
fn dotdot_at_export_root_stays_and_symlinks_are_not_followed() {
    let tree = Tree::new();
    let port = free_port();
    let _srv = Server::start(&tree.specs(&["127.0.0.1"]), &tree.key(), port);
    let mut c = Client::connect(port, None);
    let (_, ro) = c.mnt(&tree.ro().display().to_string());

    let (st, up) = c.lookup(&ro, "..");
    assert_eq!(st, 0);
    assert_eq!(up, ro, "`..` of the export root is the root");
    let (st, sub) = c.lookup(&ro, "sub");
    assert_eq!(st, 0);
    let (st, up) = c.lookup(&sub, "..");
    assert_eq!((st, up), (0, ro.clone()));
    // Names with slashes are not paths.
    assert_eq!(c.lookup(&ro, "sub/deep.txt").0, 22);
    assert_eq!(c.lookup(&ro, "../secret").0, 22);

    // The symlink pointing outside is a symlink (type 5) with its target
    // returned verbatim; reading through it is refused.
    let (st, link) = c.lookup(&ro, "escape");
    assert_eq!(st, 0);
    let mut a = Vec::new();
    Writer::new(&mut a).opaque(&link);
    let (st, body) = c.nfs(1, &a);
    assert_eq!(st, 0);
    assert_eq!(u32::from_be_bytes(body[..4].try_into().unwrap()), 5);
    let (st, body) = c.nfs(5, &a);
    assert_eq!(st, 0);
    let mut r = Reader::new(&body);
    if r.bool().unwrap() {
        r.fixed(84).unwrap();
    }
    assert_eq!(r.opaque(4096).unwrap(), b"../secret");
    let (st, data) = c.read(&link, 0, 100);
    assert_ne!(st, 0);
    assert!(data.is_empty());

    // MOUNT of a path outside every export, or through a symlink, fails.
    assert_ne!(c.mnt(&tree.dir.path().display().to_string()).0, 0);
    assert_ne!(c.mnt(&format!("{}/escape", tree.ro().display())).0, 0);
    assert_ne!(c.mnt(&format!("{}/../secret", tree.ro().display())).0, 0);
}
