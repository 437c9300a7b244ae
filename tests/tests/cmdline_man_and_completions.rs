//! Man pages and shell completions come from the clap definitions of the
//! binaries (hidden `generate-man DIR` and `completions SHELL` subcommands).

mod inventory_support;

use inventory_support::{run, TempDir};

#[test]
fn man_pages_for_server_and_mkimage() {
    let tmp = TempDir::new("man");
    for (bin, pages) in [
        (
            "diskless-server",
            &[
                "diskless-server.1",
                "diskless-server-import.1",
                "diskless-server-check.1",
            ][..],
        ),
        (
            "diskless-mkimage",
            &["diskless-mkimage.1", "diskless-mkimage-check-cmdline.1"][..],
        ),
    ] {
        let r = run(bin, &["generate-man", tmp.0.to_str().unwrap()]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        for p in pages {
            let text = std::fs::read_to_string(tmp.0.join(p)).unwrap();
            assert!(text.contains(".TH"), "{p} is not a man page");
        }
    }
    let check = std::fs::read_to_string(tmp.0.join("diskless-server-check.1")).unwrap();
    assert!(check.contains("no\\-path\\-check"), "{check}");
    assert!(check.contains("Examples:"));
}

#[test]
fn completions_for_bash_and_zsh() {
    let r = run("diskless-mkimage", &["completions", "bash"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("check-cmdline"));
    let r = run("diskless-server", &["completions", "zsh"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.starts_with("#compdef diskless-server"));
    let r = run("diskless-server", &["completions", "tcsh"]);
    assert_eq!(r.code, 2, "unknown shell is a usage error");
}

#[test]
fn help_has_examples() {
    for (bin, sub) in [
        ("diskless-server", "import"),
        ("diskless-server", "check"),
        ("diskless-mkimage", "check-cmdline"),
    ] {
        let r = run(bin, &[sub, "--help"]);
        assert_eq!(r.code, 0);
        assert!(
            r.stdout.contains("Examples:"),
            "{bin} {sub} --help:\n{}",
            r.stdout
        );
        assert!(r.stdout.contains("Exit status:"));
    }
    let r = run("diskless-server", &["--help"]);
    assert!(r.stdout.contains("Examples:"));
}
