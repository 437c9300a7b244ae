//! libnfs' command-line client (nfs-ls, nfs-cat, nfs-cp) against our
//! server on loopback: listing, reading, writing, read-only refusal.

mod nfs_support;
use nfs_support::*;

#[test]
fn libnfs_lists_reads_and_writes() {
    let tree = Tree::new();
    let port = free_port();
    let srv = Server::start(&tree.specs(&["127.0.0.1"]), &tree.key(), port);
    let ro = tree.ro().display().to_string();
    let rw = tree.rw().display().to_string();

    let (ok, out, err) = libnfs("nfs-ls", &[&srv.url(&ro)]);
    assert!(ok, "nfs-ls: {err}");
    let listing = String::from_utf8_lossy(&out);
    for name in ["hello.txt", "big.bin", "sub", "escape"] {
        assert!(listing.contains(name), "{name} missing from:\n{listing}");
    }
    // The symlink is listed as a link, never followed out of the export.
    assert!(listing
        .lines()
        .any(|l| l.starts_with('l') && l.contains("escape")));

    let (ok, out, err) = libnfs("nfs-ls", &["-R", &srv.url(&ro)]);
    assert!(ok, "nfs-ls -R: {err}");
    assert!(String::from_utf8_lossy(&out).contains("sub/deep.txt"));

    let (ok, out, err) = libnfs("nfs-cat", &[&srv.url(&format!("{ro}/hello.txt"))]);
    assert!(ok, "nfs-cat: {err}");
    assert_eq!(out, b"hello from diskless\n");

    let (ok, out, err) = libnfs("nfs-cat", &[&srv.url(&format!("{ro}/big.bin"))]);
    assert!(ok, "nfs-cat big: {err}");
    assert_eq!(out, std::fs::read(tree.ro().join("big.bin")).unwrap());

    // A file below a subdirectory (libnfs mounts the subdirectory).
    let (ok, out, err) = libnfs("nfs-cat", &[&srv.url(&format!("{ro}/sub/deep.txt"))]);
    assert!(ok, "nfs-cat sub: {err}");
    assert_eq!(out, b"deep\n");

    // Writable export: nfs-cp uploads.
    let src = tree.dir.path().join("upload");
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 13) as u8).collect();
    std::fs::write(&src, &payload).unwrap();
    let (ok, _, err) = libnfs(
        "nfs-cp",
        &[
            &src.display().to_string(),
            &srv.url(&format!("{rw}/up.bin")),
        ],
    );
    assert!(ok, "nfs-cp: {err}");
    assert_eq!(std::fs::read(tree.rw().join("up.bin")).unwrap(), payload);

    // Read-only export: refused with ROFS, nothing written.
    let (ok, _, err) = libnfs(
        "nfs-cp",
        &[
            &src.display().to_string(),
            &srv.url(&format!("{ro}/up.bin")),
        ],
    );
    assert!(!ok);
    assert!(err.contains("ROFS"), "{err}");
    assert!(!tree.ro().join("up.bin").exists());
}
