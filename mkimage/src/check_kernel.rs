//! `diskless-mkimage check-kernel`: will this kernel boot diskless nodes
//! from NFS, and if not, exactly what to change.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use diskless_initramfs::modules::Lookup;
use diskless_initramfs::ModuleIndex;
use diskless_kconfig::kconfig::{parse, Eval};
use diskless_kconfig::rules::{self, Boot, ModuleResolver};
use diskless_kconfig::{fix, fragment, input, nic, report, Config, Tristate};

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum BootArg {
    /// Kernel mounts the NFS root itself (ip=, root=/dev/nfs), no initramfs.
    Direct,
    /// Our initramfs loads modules and mounts the NFS root.
    Initramfs,
}

#[derive(clap::Args)]
#[command(after_help = "\
Both verdicts are always printed; --boot picks the one that sets the exit code.
Exit codes: 0 pass, 1 fail, 2 the input could not be read.

Examples:
  diskless-mkimage check-kernel --nic e1000 /boot/config-6.1.0-18-amd64
  diskless-mkimage check-kernel --nic virtio_net --boot initramfs \\
      --modules /lib/modules/6.1.0-18-amd64 /boot/vmlinuz-6.1.0-18-amd64
  diskless-mkimage check-kernel --nic e1000 --source linux-6.1 --fix .config > fix.config
  scripts/kconfig/merge_config.sh -m .config fix.config && make olddefconfig
  diskless-mkimage check-kernel --inventory cluster.toml --profile rack1 bzImage
  diskless-mkimage check-kernel --json        # the running kernel, for CI")]
pub struct Args {
    /// Boot path whose verdict sets the exit code.
    #[arg(long, value_enum, default_value = "direct")]
    boot: BootArg,
    /// The nodes' network driver (e1000, e1000e, virtio_net, igb, ixgbe, …).
    #[arg(long, value_name = "NAME", conflicts_with = "inventory")]
    nic: Option<String>,
    /// Take the NIC driver from the inventory's nodes (their `nic` setting).
    #[arg(long, value_name = "FILE")]
    inventory: Option<PathBuf>,
    /// Only the nodes of this profile (with --inventory).
    #[arg(long, value_name = "NAME", requires = "inventory")]
    profile: Option<String>,
    /// Module tree (/lib/modules/VERSION) to list the exact .ko files.
    #[arg(long, value_name = "DIR")]
    modules: Option<PathBuf>,
    /// Kernel source tree, to explain why an option is missing and to
    /// compute the dependencies a fix needs.
    #[arg(long, value_name = "DIR")]
    source: Option<PathBuf>,
    /// The fragment the kernel was configured with: report every option in
    /// it that the config does not honour, and why.
    #[arg(long, value_name = "FILE")]
    fragment: Option<PathBuf>,
    /// Print a merge_config.sh fragment that makes the --boot verdict pass.
    #[arg(long)]
    fix: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// .config, config.gz, bzImage or vmlinux (with CONFIG_IKCONFIG);
    /// default: the running kernel (/proc/config.gz, /boot/config-$(uname -r)).
    file: Option<PathBuf>,
}

/// The source tree's architecture directory for this config.
fn srcarch(config: &Config) -> &'static str {
    [
        ("X86", "x86"),
        ("ARM64", "arm64"),
        ("ARM", "arm"),
        ("RISCV", "riscv"),
        ("PPC", "powerpc"),
        ("S390", "s390"),
        ("LOONGARCH", "loongarch"),
        ("MIPS", "mips"),
    ]
    .into_iter()
    .find(|(sym, _)| config.get(sym) == Tristate::Y)
    .map_or("x86", |(_, arch)| arch)
}

/// The initramfs builder's `modules.dep` index, so the `.ko` list printed
/// here is what `diskless-mkimage initramfs` would pack.
struct Modules(ModuleIndex);

impl ModuleResolver for Modules {
    fn resolve(&self, names: &[&str]) -> (Vec<String>, Vec<String>) {
        let mut files: Vec<String> = Vec::new();
        let mut problems = Vec::new();
        for name in names {
            match self.0.closure(name) {
                Ok(closure) => {
                    for m in closure {
                        if let Lookup::Module(m) = self.0.lookup(&m) {
                            if !files.contains(&m.path) {
                                files.push(m.path.clone());
                            }
                        }
                    }
                }
                Err(e) => problems.push(format!("{e}: is this the module tree of this kernel?")),
            }
        }
        (files, problems)
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let boot = match args.boot {
        BootArg::Direct => Boot::Direct,
        BootArg::Initramfs => Boot::Initramfs,
    };
    let nic_name = match (&args.nic, &args.inventory) {
        (Some(name), _) => Some(name.clone()),
        (None, Some(inv)) => {
            let mut nics = crate::inventory_nics::inventory_nics(inv, args.profile.as_deref())?;
            if nics.len() > 1 {
                bail!(
                    "the selected nodes use several NIC drivers ({}): pick one with --profile or --nic",
                    nics.join(", ")
                );
            }
            nics.pop()
        }
        (None, None) => None,
    };
    let nic = match &nic_name {
        Some(name) => match nic::find(name) {
            Some(n) => Some(n),
            None => bail!(
                "unknown --nic {name:?}: use one of {}",
                nic::names().join(", ")
            ),
        },
        None => None,
    };
    let loaded = match &args.file {
        Some(p) => input::load(p)?,
        None => input::load_running()?,
    };
    let config = &loaded.config;
    let tree = match &args.source {
        Some(dir) => {
            let t = parse::load(dir, srcarch(config))?;
            tracing::debug!(
                files = t.files,
                symbols = t.symbols.len(),
                "read Kconfig tree"
            );
            Some(t)
        }
        None => None,
    };
    let modules = match &args.modules {
        Some(dir) => Some(Modules(
            ModuleIndex::open(dir).with_context(|| format!("--modules {}", dir.display()))?,
        )),
        None => None,
    };
    let requested = match &args.fragment {
        Some(p) => Some(
            input::load(p)
                .with_context(|| format!("--fragment {}", p.display()))?
                .config,
        ),
        None => None,
    };

    let eval = tree.as_ref().map(|t| Eval::new(t, config));
    let verdicts: Vec<_> = [Boot::Direct, Boot::Initramfs]
        .into_iter()
        .map(|b| {
            let resolver = modules.as_ref().map(|m| m as &dyn ModuleResolver);
            rules::check(b, nic, config, eval.as_ref(), resolver)
        })
        .collect();
    let chosen = verdicts
        .iter()
        .find(|v| v.boot == boot)
        .expect("both verdicts are computed");
    let pass = chosen.pass;
    let fragment = requested
        .as_ref()
        .map(|f| fragment::check(f, config, eval.as_ref()))
        .unwrap_or_default();
    let fix = args.fix.then(|| fix::plan(chosen, config, tree.as_ref()));
    let fix_text = fix.as_ref().map(|f| fix::render(f, chosen));
    let report = report::Report {
        source: loaded.source.clone(),
        nic: nic.map(|n| n.driver.to_string()),
        boot,
        pass,
        verdicts,
        fragment,
        fix,
        kconfig_warnings: tree.map(|t| t.warnings).unwrap_or_default(),
    };

    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if let Some(text) = fix_text {
        print!("{text}");
        eprintln!(
            "check-kernel: --boot {} {}; fragment on stdout",
            match boot {
                Boot::Direct => "direct",
                Boot::Initramfs => "initramfs",
            },
            if pass { "passes" } else { "fails" }
        );
    } else {
        print!("{}", report::text(&report));
    }
    Ok(if pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
