//! Inputs `check-kernel` cannot read: one line on stderr, exit code 2.

mod check_kernel_support;

use std::io::Write;

use check_kernel_support::*;

fn assert_refused(what: &str, path: &str) -> String {
    let r = check_kernel(&["--nic", "e1000", path]);
    assert_eq!(r.code, 2, "{what}: {}{}", r.stdout, r.stderr);
    assert!(r.stdout.is_empty(), "{what}: {}", r.stdout);
    assert_eq!(
        r.stderr.trim_end().lines().count(),
        1,
        "{what}: {}",
        r.stderr
    );
    r.stderr
}

#[test]
fn unreadable_inputs_give_one_line_and_exit_2() {
    let dir = scratch("bad");
    let real = std::fs::read(stock().config).unwrap();

    let garbage = dir.join("garbage");
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&garbage, bytes).unwrap();
    let e = assert_refused("garbage", s(&garbage));
    assert!(e.contains("not a kernel config"), "{e}");

    let truncated = dir.join("config.gz");
    let mut gz = flate2_gzip(&real);
    gz.truncate(gz.len() / 2);
    std::fs::write(&truncated, gz).unwrap();
    let e = assert_refused("truncated gzip", s(&truncated));
    assert!(e.contains("gzip") && e.contains("truncated"), "{e}");

    let empty = dir.join("empty");
    std::fs::write(&empty, b"").unwrap();
    assert!(assert_refused("empty", s(&empty)).contains("empty"));

    assert!(assert_refused("directory", s(&dir)).contains("directory"));

    let e = assert_refused("non-kernel binary", "/bin/ls");
    assert!(e.contains("not a Linux kernel"), "{e}");

    let e = assert_refused("missing file", s(&dir.join("nope")));
    assert!(e.contains("cannot read"), "{e}");
}

#[test]
fn a_real_config_through_gzip_is_read() {
    let dir = scratch("gz");
    let real = std::fs::read(stock().config).unwrap();
    let p = dir.join("config.gz");
    std::fs::write(&p, flate2_gzip(&real)).unwrap();
    let r = check_kernel(&["--boot", "initramfs", "--nic", "e1000", s(&p)]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("gzip-compressed config"));
}

#[test]
fn unknown_nic_is_refused_with_the_known_list() {
    let r = check_kernel(&["--nic", "tulip9000", s(&stock().config)]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("e1000") && r.stderr.contains("virtio_net"),
        "{}",
        r.stderr
    );
}

/// `gzip -c`, the way /proc/config.gz is made.
fn flate2_gzip(data: &[u8]) -> Vec<u8> {
    let mut child = std::process::Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip");
    let mut stdin = child.stdin.take().unwrap();
    let input = data.to_vec();
    let t = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    t.join().unwrap().unwrap();
    out.stdout
}

#[test]
fn bad_option_paths_exit_2_with_one_line() {
    let dir = scratch("badopts");
    let cfg = stock().config;
    let junk = dir.join("junk.fragment");
    std::fs::write(&junk, "this is not a fragment\n").unwrap();
    for (what, args) in [
        ("--source not a tree", vec!["--source", s(&dir)]),
        ("--modules without modules.dep", vec!["--modules", s(&dir)]),
        ("--fragment garbage", vec!["--fragment", s(&junk)]),
    ] {
        let mut a = args.clone();
        a.push(s(&cfg));
        let r = check_kernel(&a);
        assert_eq!(r.code, 2, "{what}: {}{}", r.stdout, r.stderr);
        assert_eq!(
            r.stderr.trim_end().lines().count(),
            1,
            "{what}: {}",
            r.stderr
        );
    }
}
