//! The server keeps whole directory listings between calls (READDIRPLUS,
//! LOOKUP, GETATTR, ACCESS answered without touching the filesystem).
//! These tests change files behind its back and check that every answer
//! still shows the filesystem as it is now.

mod nfs_support;
use nfs_support::*;

use diskless_nfs::xdr::{Reader, Writer};
use std::os::unix::fs::PermissionsExt;

/// What a test looks at in an `fattr3`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Attr {
    mode: u32,
    nlink: u32,
    size: u64,
    mtime: (u32, u32),
}

fn fattr(r: &mut Reader) -> Attr {
    let b = r.fixed(84).unwrap();
    let u32_at = |i: usize| u32::from_be_bytes(b[i..i + 4].try_into().unwrap());
    Attr {
        mode: u32_at(4),
        nlink: u32_at(8),
        size: u64::from_be_bytes(b[20..28].try_into().unwrap()),
        mtime: (u32_at(68), u32_at(72)),
    }
}

fn post_op(r: &mut Reader) -> Option<Attr> {
    r.bool().unwrap().then(|| fattr(r))
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Ent {
    name: String,
    cookie: u64,
    attr: Option<Attr>,
    fh: Option<Vec<u8>>,
}

/// One READDIRPLUS page: (entries, eof).
fn rdp_page(c: &mut Client, dir: &[u8], cookie: u64, maxcount: u32) -> (Vec<Ent>, bool) {
    let mut a = Vec::new();
    let mut w = Writer::new(&mut a);
    w.opaque(dir);
    w.u64(cookie);
    w.fixed(&[0; 8]);
    w.u32(maxcount);
    w.u32(maxcount);
    let (status, body) = c.nfs(17, &a);
    assert_eq!(status, 0, "READDIRPLUS status");
    let mut r = Reader::new(&body);
    post_op(&mut r);
    r.fixed(8).unwrap();
    let mut out = Vec::new();
    while r.bool().unwrap() {
        r.u64().unwrap();
        let name = String::from_utf8(r.opaque(255).unwrap().to_vec()).unwrap();
        let cookie = r.u64().unwrap();
        let attr = post_op(&mut r);
        let fh = r.bool().unwrap().then(|| r.opaque(64).unwrap().to_vec());
        out.push(Ent {
            name,
            cookie,
            attr,
            fh,
        });
    }
    (out, r.bool().unwrap())
}

fn rdp(c: &mut Client, dir: &[u8], maxcount: u32) -> Vec<Ent> {
    let (mut all, mut cookie) = (Vec::new(), 0);
    loop {
        let (page, eof) = rdp_page(c, dir, cookie, maxcount);
        if let Some(last) = page.last() {
            cookie = last.cookie;
        }
        all.extend(page);
        if eof {
            return all;
        }
    }
}

fn entry<'a>(l: &'a [Ent], name: &str) -> Option<&'a Ent> {
    l.iter().find(|e| e.name == name)
}

/// LOOKUP: (status, object attributes).
fn lookup_attr(c: &mut Client, dir: &[u8], name: &str) -> (u32, Option<Attr>) {
    let mut a = Vec::new();
    let mut w = Writer::new(&mut a);
    w.opaque(dir);
    w.opaque(name.as_bytes());
    let (status, body) = c.nfs(3, &a);
    if status != 0 {
        return (status, None);
    }
    let mut r = Reader::new(&body);
    r.opaque(64).unwrap();
    (0, post_op(&mut r))
}

fn getattr(c: &mut Client, fh: &[u8]) -> (u32, Option<Attr>) {
    let mut a = Vec::new();
    Writer::new(&mut a).opaque(fh);
    let (status, body) = c.nfs(1, &a);
    (
        status,
        (status == 0).then(|| fattr(&mut Reader::new(&body))),
    )
}

const STALE: u32 = 70;
const NOENT: u32 = 2;

#[test]
fn answers_follow_changes_made_behind_the_servers_back() {
    let tree = Tree::new();
    let port = free_port();
    let _srv = Server::start(&tree.specs(&["127.0.0.1"]), &tree.key(), port);
    let mut c = Client::connect(port, None);
    let ro = tree.ro();
    let (_, root) = c.mnt(ro.to_str().unwrap());

    // Built once, then answered from the cache: the same either way.
    let first = rdp(&mut c, &root, 64 * 1024);
    assert_eq!(rdp(&mut c, &root, 64 * 1024), first);
    let hello = entry(&first, "hello.txt").unwrap().clone();
    assert_eq!(hello.attr.as_ref().unwrap().size, 20);

    // Contents grow: new size in the listing and in LOOKUP.
    std::fs::write(ro.join("hello.txt"), b"hello, now somewhat longer\n").unwrap();
    let l = rdp(&mut c, &root, 64 * 1024);
    assert_eq!(
        entry(&l, "hello.txt").unwrap().attr.as_ref().unwrap().size,
        27
    );
    assert_eq!(lookup_attr(&mut c, &root, "hello.txt").1.unwrap().size, 27);

    // Mode changes.
    std::fs::set_permissions(ro.join("hello.txt"), PermissionsExt::from_mode(0o600)).unwrap();
    assert_eq!(
        lookup_attr(&mut c, &root, "hello.txt").1.unwrap().mode,
        0o600
    );
    let l = rdp(&mut c, &root, 64 * 1024);
    assert_eq!(
        entry(&l, "hello.txt").unwrap().attr.as_ref().unwrap().mode,
        0o600
    );

    // A new file appears, in the listing and to LOOKUP.
    std::fs::write(ro.join("new.txt"), b"n").unwrap();
    assert_eq!(lookup_attr(&mut c, &root, "new.txt").0, 0);
    let l = rdp(&mut c, &root, 64 * 1024);
    let new_fh = entry(&l, "new.txt")
        .expect("new.txt listed")
        .fh
        .clone()
        .unwrap();

    // Deleted: gone from the listing, LOOKUP says NOENT, its handle is stale.
    std::fs::remove_file(ro.join("new.txt")).unwrap();
    let l = rdp(&mut c, &root, 64 * 1024);
    assert!(entry(&l, "new.txt").is_none());
    assert_eq!(lookup_attr(&mut c, &root, "new.txt").0, NOENT);
    assert_eq!(getattr(&mut c, &new_fh).0, STALE);

    // A file created inside a subdirectory changes the subdirectory's own
    // attributes, as listed in its parent.
    let sub_before = entry(&l, "sub").unwrap().attr.clone().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::create_dir(ro.join("sub/inner")).unwrap();
    let l = rdp(&mut c, &root, 64 * 1024);
    let sub_after = entry(&l, "sub").unwrap().attr.clone().unwrap();
    assert_eq!(sub_after.nlink, sub_before.nlink + 1);
    assert_ne!(sub_after.mtime, sub_before.mtime);
    let sub_fh = entry(&l, "sub").unwrap().fh.clone().unwrap();
    assert_eq!(getattr(&mut c, &sub_fh).1.unwrap().nlink, sub_after.nlink);

    // The directory's own GETATTR follows too.
    let root_before = getattr(&mut c, &root).1.unwrap();
    std::fs::create_dir(ro.join("another")).unwrap();
    assert_eq!(
        getattr(&mut c, &root).1.unwrap().nlink,
        root_before.nlink + 1
    );
}

#[test]
fn a_file_with_another_link_outside_the_directory_is_read_fresh() {
    let tree = Tree::new();
    let port = free_port();
    let _srv = Server::start(&tree.specs(&["127.0.0.1"]), &tree.key(), port);
    let mut c = Client::connect(port, None);
    let ro = tree.ro();
    let outside = tree.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::hard_link(ro.join("hello.txt"), outside.join("twin")).unwrap();
    let (_, root) = c.mnt(ro.to_str().unwrap());
    rdp(&mut c, &root, 64 * 1024);
    // Changed through the other name: no event reaches the export's
    // directory, yet the answer is fresh.
    std::fs::write(outside.join("twin"), b"changed through the twin\n").unwrap();
    let l = rdp(&mut c, &root, 64 * 1024);
    assert_eq!(
        entry(&l, "hello.txt").unwrap().attr.as_ref().unwrap().size,
        25
    );
}

#[test]
fn pages_from_the_cache_match_one_big_page_and_dots_stay_inside() {
    let tree = Tree::new();
    for i in 0..300 {
        std::fs::write(tree.ro().join(format!("file-{i:03}")), b"x").unwrap();
    }
    let port = free_port();
    let _srv = Server::start(&tree.specs(&["127.0.0.1"]), &tree.key(), port);
    let mut c = Client::connect(port, None);
    let (_, root) = c.mnt(tree.ro().to_str().unwrap());
    let big = rdp(&mut c, &root, 256 * 1024);
    let small = rdp(&mut c, &root, 2048);
    assert_eq!(big, small);
    assert_eq!(
        big.len(),
        300 + 6,
        ". .. hello.txt big.bin sub escape + 300"
    );
    // `.` and `..` of the export root carry the root's own handle.
    assert_eq!(entry(&big, ".").unwrap().fh.as_deref(), Some(&root[..]));
    assert_eq!(entry(&big, "..").unwrap().fh.as_deref(), Some(&root[..]));
    // `..` of a subdirectory is the export root.
    let sub = entry(&big, "sub").unwrap().fh.clone().unwrap();
    let l = rdp(&mut c, &sub, 64 * 1024);
    assert_eq!(entry(&l, "..").unwrap().fh.as_deref(), Some(&root[..]));
    assert_eq!(entry(&l, ".").unwrap().fh.as_deref(), Some(&sub[..]));
}

/// Files of this process (the server runs in it) that are open but removed.
fn open_deleted(name: &str) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|t| {
            let t = t.to_string_lossy();
            t.contains(name) && t.ends_with(" (deleted)")
        })
        .count()
}

#[test]
fn a_file_removed_behind_the_servers_back_is_closed_and_its_handle_is_stale() {
    let tree = Tree::new();
    let port = free_port();
    let _srv = Server::start(&tree.specs(&["127.0.0.1"]), &tree.key(), port);
    let mut c = Client::connect(port, None);
    let ro = tree.ro();
    std::fs::write(ro.join("doomed.bin"), vec![7u8; 4096]).unwrap();
    let (_, root) = c.mnt(ro.to_str().unwrap());
    let (_, doomed) = c.lookup(&root, "doomed.bin");
    let (_, hello) = c.lookup(&root, "hello.txt");
    assert_eq!(c.read(&doomed, 0, 4096).1.len(), 4096);
    std::fs::remove_file(ro.join("doomed.bin")).unwrap();
    assert_eq!(open_deleted("doomed.bin"), 1, "held open by the cache");
    // Any call after the sweep interval closes it.
    std::thread::sleep(diskless_nfs::open_files::SWEEP + std::time::Duration::from_millis(200));
    assert_eq!(c.read(&hello, 0, 5).0, 0);
    assert_eq!(open_deleted("doomed.bin"), 0, "closed by the sweep");
    assert_eq!(c.read(&doomed, 0, 4096).0, STALE);
    assert_eq!(getattr(&mut c, &doomed).0, STALE);
}

#[test]
fn our_own_write_and_setattr_show_in_the_cached_listing() {
    let tree = Tree::new();
    let port = free_port();
    let _srv = Server::start(&tree.specs(&["127.0.0.1"]), &tree.key(), port);
    let mut c = Client::connect(port, None);
    let rw = tree.rw();
    std::fs::write(rw.join("log"), b"1").unwrap();
    let (_, root) = c.mnt(rw.to_str().unwrap());
    let l = rdp(&mut c, &root, 64 * 1024);
    let log = entry(&l, "log").unwrap().fh.clone().unwrap();
    assert_eq!(c.write(&log, 0, b"0123456789").0, 0);
    let l = rdp(&mut c, &root, 64 * 1024);
    assert_eq!(entry(&l, "log").unwrap().attr.as_ref().unwrap().size, 10);
    // SETATTR mode 0640.
    let mut a = Vec::new();
    let mut w = Writer::new(&mut a);
    w.opaque(&log);
    w.bool(true);
    w.u32(0o640);
    for _ in 0..3 {
        w.bool(false); // uid, gid, size
    }
    w.u32(0); // atime: don't change
    w.u32(0); // mtime: don't change
    w.bool(false); // no guard
    assert_eq!(c.nfs(2, &a).0, 0);
    let l = rdp(&mut c, &root, 64 * 1024);
    assert_eq!(entry(&l, "log").unwrap().attr.as_ref().unwrap().mode, 0o640);
    assert_eq!(lookup_attr(&mut c, &root, "log").1.unwrap().mode, 0o640);
}
