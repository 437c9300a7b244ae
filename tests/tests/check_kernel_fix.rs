//! `check-kernel --fix` fragments, merged with the kernel's own
//! `merge_config.sh` and `olddefconfig`, turn failing configs into passing ones.

mod check_kernel_support;

use std::path::Path;

use check_kernel_support::*;

/// Fix `cfg` for `--boot direct --nic e1000` (with extra args), merge the
/// fix, and check again.
fn fix_and_recheck(name: &str, cfg: &Path, extra: &[&str]) {
    fix_and_recheck_for("direct", name, cfg, extra)
}

fn fix_and_recheck_for(boot: &str, name: &str, cfg: &Path, extra: &[&str]) {
    let mut args = vec!["--boot", boot, "--nic", "e1000", "--fix"];
    args.extend_from_slice(extra);
    args.push(s(cfg));
    let r = check_kernel(&args);
    assert_eq!(
        r.code, 1,
        "{name}: the config fails before the fix\n{}",
        r.stderr
    );
    assert!(
        r.stdout.contains("CONFIG_"),
        "{name}: fix has options:\n{}",
        r.stdout
    );
    let out = scratch(&format!("merged-{name}"));
    std::fs::copy(cfg, out.join(".config")).unwrap();
    let frag = out.join("fix.config");
    std::fs::write(&frag, &r.stdout).unwrap();
    merge(&out, &frag);
    let r2 = check_kernel(&["--boot", boot, "--nic", "e1000", s(&out.join(".config"))]);
    assert_eq!(
        r2.code, 0,
        "{name}: still failing after merging\n{}\n{}",
        r.stdout, r2.stdout
    );
}

#[test]
fn fix_repairs_tinyconfig_without_file_locking() {
    let cfg = config("fix-tiny", "tinyconfig", &fragment_without_file_locking());
    let src = source();
    let r = check_kernel(&["--nic", "e1000", "--source", s(&src), "--fix", s(&cfg)]);
    assert!(r.stdout.contains("CONFIG_FILE_LOCKING=y"), "{}", r.stdout);
    fix_and_recheck("tiny", &cfg, &["--source", s(&src)]);
}

#[test]
fn fix_repairs_the_debian_config_for_direct_boot() {
    let k = stock();
    let src = source();
    fix_and_recheck("debian-src", &k.config, &["--source", s(&src)]);
    // Without a source tree the built-in dependency table must do.
    fix_and_recheck("debian-table", &k.config, &[]);
}

#[test]
fn fix_repairs_bare_tinyconfig_with_all_dependencies() {
    // Nothing but tinyconfig: networking, PCI, NFS… all must come from the
    // Kconfig dependencies the fix computes.
    let cfg = config("fix-bare", "tinyconfig", "");
    let src = source();
    fix_and_recheck("bare-tiny", &cfg, &["--source", s(&src)]);
}

#[test]
fn fix_repairs_configs_for_the_initramfs_path() {
    let src = source();
    // x86_64_defconfig has no OVERLAY_FS; modules are on, so =m is enough.
    let cfg = config("fix-def-initramfs", "x86_64_defconfig", "");
    fix_and_recheck_for(
        "initramfs",
        "defconfig-initramfs",
        &cfg,
        &["--source", s(&src)],
    );
    // tinyconfig has MODULES off: the fix must ask for =y, not =m.
    let cfg = config("fix-tiny-initramfs", "tinyconfig", "");
    fix_and_recheck_for("initramfs", "tiny-initramfs", &cfg, &["--source", s(&src)]);
}
