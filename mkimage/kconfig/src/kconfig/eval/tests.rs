//! The Kconfig evaluator on small Kconfig trees: defaults, selects, depends, why.

use super::*;
use crate::kconfig::parse;

const KCONFIG: &str = r#"
config MODULES
	bool "modules"
config EXPERT
	bool "expert"
config NET
	bool "net"
config INET
	bool "inet"
	depends on NET
config FILE_LOCKING
	bool "locking" if EXPERT
	default y
config NETWORK_FILESYSTEMS
	bool "netfs"
if NETWORK_FILESYSTEMS
config NFS_FS
	tristate "NFS client"
	depends on INET && FILE_LOCKING
	select LOCKD
config ROOT_NFS
	bool "root on NFS"
	depends on NFS_FS=y
endif
config LOCKD
	tristate
config HIDDEN
	bool
config PICKER
	bool "picks hidden"
	select HIDDEN
choice
	prompt "compression"
config KERNEL_GZIP
	bool "gzip"
config KERNEL_XZ
	bool "xz"
endchoice
"#;

fn tree() -> Tree {
    let dir = std::env::temp_dir().join(format!("kconfig-eval-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Kconfig"), KCONFIG).unwrap();
    let t = parse::load(&dir, "x86").unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);
    t
}

fn config(text: &str) -> Config {
    Config::parse(text).unwrap()
}

#[test]
fn explains_the_missing_dependency_by_name() {
    let t = tree();
    let c = config("CONFIG_EXPERT=y\nCONFIG_NET=y\nCONFIG_INET=y\nCONFIG_NETWORK_FILESYSTEMS=y\n# CONFIG_FILE_LOCKING is not set\n");
    let ev = Eval::new(&t, &c);
    let why = ev.why("NFS_FS", Tristate::Y);
    assert_eq!(
        why[0],
        "NFS_FS depends on NETWORK_FILESYSTEMS && INET && FILE_LOCKING (Kconfig:17): FILE_LOCKING is not set"
    );
    assert!(why[1].contains("set CONFIG_FILE_LOCKING=y"), "{why:?}");
    // A module dependency caps a tristate at m.
    let c = config("CONFIG_MODULES=y\nCONFIG_NETWORK_FILESYSTEMS=y\nCONFIG_NFS_FS=m\n");
    let ev = Eval::new(&t, &c);
    let why = ev.why("ROOT_NFS", Tristate::Y);
    assert!(why[0].contains("NFS_FS is m (needs =y)"), "{why:?}");
}

#[test]
fn explains_hidden_prompts_selects_and_choices() {
    let t = tree();
    let c = config("CONFIG_KERNEL_XZ=y\n# CONFIG_EXPERT is not set\n");
    let ev = Eval::new(&t, &c);
    assert!(ev.why("HIDDEN", Tristate::Y)[0].contains("selected, by PICKER"));
    assert!(ev.why("KERNEL_GZIP", Tristate::Y)[0].contains("KERNEL_XZ is chosen instead"));
    assert!(ev.why("FILE_LOCKING", Tristate::Y)[0].contains("only be changed when EXPERT"));
    assert!(ev.why("NOPE", Tristate::Y)[0].contains("not defined"));
    assert!(ev.why("KERNEL_XZ", Tristate::Y).is_empty());
}

#[test]
fn plans_every_dependency_and_selector() {
    let t = tree();
    let c = config("CONFIG_EXPERT=y\n# CONFIG_NET is not set\n");
    let mut ev = Eval::new(&t, &c);
    ev.plan("ROOT_NFS", Tristate::Y);
    ev.plan("HIDDEN", Tristate::Y);
    let names: Vec<&str> = ev.planned().iter().map(|(s, _)| s.as_str()).collect();
    for want in [
        "NETWORK_FILESYSTEMS",
        "NET",
        "INET",
        "FILE_LOCKING",
        "NFS_FS",
        "ROOT_NFS",
        "PICKER",
    ] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    assert!(!names.contains(&"HIDDEN"), "no prompt: selected instead");
    assert!(ev.planned().iter().all(|(_, v)| *v == Tristate::Y));
    assert!(ev.unfixable.is_empty(), "{:?}", ev.unfixable);
}

#[test]
fn comparisons_and_module_constant() {
    let t = tree();
    let c = config("CONFIG_NFS_FS=m\n");
    let ev = Eval::new(&t, &c);
    let e =
        |s: &str| crate::kconfig::expr::parse(&crate::kconfig::expr::tokenize(s).unwrap()).unwrap();
    assert_eq!(ev.eval(&e("NFS_FS=m")), Tristate::Y);
    assert_eq!(ev.eval(&e("NFS_FS!=m")), Tristate::N);
    assert_eq!(ev.eval(&e("NFS_FS && !ROOT_NFS")), Tristate::M);
    // `m` is n without MODULES.
    assert_eq!(ev.eval(&e("m")), Tristate::N);
    assert_eq!(ev.eval(&e("$(cc-option,-m64)")), Tristate::Y);
}
