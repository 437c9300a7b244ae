//! Assemble the initramfs: `/init`, the modules a diskless boot needs with
//! their dependency closure, the load list, and the mount points.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::compression::{read_module, Compression};
use crate::cpio::Archive;
use crate::error::{Error, Result};
use crate::load_list::{self, Class, LoadGroup};
use crate::modules::{Lookup, ModuleIndex};
use crate::nic;

/// Needed for an NFS root with an overlay; each must be a module or builtin.
pub const CORE_REQUIRED: &[&str] = &["sunrpc", "grace", "lockd", "nfs", "nfsv3", "overlay"];
/// Wanted when the kernel has them as modules (the DHCP client's raw socket).
pub const CORE_OPTIONAL: &[&str] = &["af_packet"];

/// The image is written as this many consecutive archives, compressed in
/// parallel. Fixed (not the CPU count) so that every machine builds the
/// same bytes.
const PARTS: usize = 4;

/// Directories the init stage mounts on or moves into.
const DIRS: &[&str] = &["dev", "proc", "sys", "run", "newroot"];

/// What to build.
#[derive(Clone, Debug)]
pub struct ImageSpec {
    /// `…/lib/modules/VERSION`, with `modules.dep` (run depmod first).
    pub modules_dir: PathBuf,
    /// The static init binary, stored as `/init`.
    pub init: PathBuf,
    /// NIC drivers that must be present.
    pub nics: Vec<String>,
    /// Also add every driver of [`nic::COMMON`] the kernel has.
    pub all_nics: bool,
    pub compression: Compression,
    /// Every entry's mtime: `SOURCE_DATE_EPOCH` or 0.
    pub mtime: u32,
}

/// The result, with what went in (for the summary line and the tests).
#[derive(Clone, Debug)]
pub struct BuiltImage {
    pub bytes: Vec<u8>,
    pub version: String,
    pub groups: Vec<LoadGroup>,
    /// Module names whose files are in the image.
    pub modules: BTreeSet<String>,
    /// Wanted modules the kernel has built in (nothing to load).
    pub builtin: Vec<String>,
    /// Optional modules the kernel does not have at all.
    pub absent: Vec<String>,
    /// Size of the cpio before compression.
    pub cpio_len: usize,
}

pub fn build(spec: &ImageSpec) -> Result<BuiltImage> {
    let index = ModuleIndex::open(&spec.modules_dir)?;
    let init = read_init(&spec.init)?;
    let plan = plan(&index, &spec.nics, spec.all_nics)?;

    let mut archive = Archive::new(spec.mtime);
    archive.file("init", 0o755, init)?;
    for d in DIRS {
        archive.dir(d, 0o755)?;
    }
    archive.char_dev("dev/console", 0o600, 5, 1)?;

    let base = format!("lib/modules/{}", index.version);
    archive.dir(&base, 0o755)?;
    for name in &plan.modules {
        let m = index.get(name).expect("planned modules exist");
        let data = read_module(&index.dir.join(&m.path))?;
        archive.file(&format!("{base}/{}", m.image_path()), 0o644, data)?;
    }
    let text_files = [
        ("modules.dep", index.render_dep(&plan.modules)),
        ("modules.alias", index.render_alias(&plan.modules)),
        ("modules.softdep", index.render_softdep(&plan.modules)),
        (load_list::FILE_NAME, load_list::render(&plan.groups)),
    ];
    for (name, text) in text_files {
        archive.file(&format!("{base}/{name}"), 0o644, text.into_bytes())?;
    }
    let builtin_path = index.dir.join("modules.builtin");
    if builtin_path.is_file() {
        let data = std::fs::read(&builtin_path).map_err(|source| Error::Read {
            path: builtin_path.clone(),
            source,
        })?;
        archive.file(&format!("{base}/modules.builtin"), 0o644, data)?;
    }

    let parts = archive.to_parts(PARTS)?;
    let cpio_len = parts.iter().map(Vec::len).sum();
    let bytes = spec.compression.compress_parts(&parts)?;
    tracing::info!(
        version = %index.version,
        modules = plan.modules.len(),
        cpio = cpio_len,
        size = bytes.len(),
        "initramfs built"
    );
    Ok(BuiltImage {
        bytes,
        version: index.version.clone(),
        groups: plan.groups,
        modules: plan.modules,
        builtin: plan.builtin,
        absent: plan.absent,
        cpio_len,
    })
}

/// Which modules go in, grouped for the load list.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub groups: Vec<LoadGroup>,
    pub modules: BTreeSet<String>,
    pub builtin: Vec<String>,
    pub absent: Vec<String>,
}

/// Decide the image's modules (no file IO beyond the index).
pub fn plan(index: &ModuleIndex, nics: &[String], all_nics: bool) -> Result<Plan> {
    let mut p = Plan::default();
    let mut wanted: Vec<(Class, String, bool)> = Vec::new();
    wanted.extend(
        CORE_REQUIRED
            .iter()
            .map(|n| (Class::Core, n.to_string(), true)),
    );
    wanted.extend(
        CORE_OPTIONAL
            .iter()
            .map(|n| (Class::Core, n.to_string(), false)),
    );
    let mut nic_names: BTreeSet<(String, bool)> = BTreeSet::new();
    for n in nics {
        nic_names.insert((crate::modules::normalize(n), true));
    }
    if all_nics {
        for n in nic::COMMON {
            if !nic_names.contains(&(n.to_string(), true)) {
                nic_names.insert((n.to_string(), false));
            }
        }
    }
    wanted.extend(nic_names.into_iter().map(|(n, req)| (Class::Nic, n, req)));

    for (class, name, required) in wanted {
        match index.lookup(&name) {
            Lookup::Builtin => {
                p.builtin.push(name);
                continue;
            }
            Lookup::Missing if required => {
                return Err(Error::ModuleMissing {
                    name,
                    dir: index.dir.clone(),
                })
            }
            Lookup::Missing => {
                p.absent.push(name);
                continue;
            }
            Lookup::Module(_) => {}
        }
        let mut order: Vec<String> = Vec::new();
        for c in nic::companions(&name) {
            if index.get(c).is_some() {
                order.extend(index.closure(c)?);
            }
        }
        for m in index.closure(&name)? {
            if !order.contains(&m) {
                order.push(m);
            }
        }
        let paths = order
            .iter()
            .map(|m| index.get(m).expect("closure yields modules").image_path())
            .collect();
        p.modules.extend(order);
        p.groups.push(LoadGroup { class, name, paths });
    }
    Ok(p)
}

/// Read `/init` and make sure the kernel can run it with nothing else in
/// the image: a 64-bit ELF without a program interpreter.
fn read_init(path: &Path) -> Result<Vec<u8>> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::InitMissing { path: path.into() })
        }
        Err(source) => {
            return Err(Error::Read {
                path: path.into(),
                source,
            })
        }
    };
    let problem = elf_problem(&data);
    match problem {
        Some(problem) => Err(Error::InitNotStatic {
            path: path.into(),
            problem,
        }),
        None => Ok(data),
    }
}

fn elf_problem(d: &[u8]) -> Option<&'static str> {
    const PT_INTERP: u32 = 3;
    if d.len() < 64 || &d[..4] != b"\x7fELF" {
        return Some("not an ELF executable");
    }
    if d[4] != 2 || d[5] != 1 {
        return Some("not a 64-bit little-endian ELF");
    }
    let u16_at = |o: usize| u16::from_le_bytes([d[o], d[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(d[32..40].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    for i in 0..phnum {
        let Some(start) = phoff.checked_add(i * phentsize) else {
            return Some("a truncated ELF file");
        };
        let Some(ph) = d.get(start..start + 4) else {
            return Some("a truncated ELF file");
        };
        if u32::from_le_bytes(ph.try_into().unwrap()) == PT_INTERP {
            return Some("dynamically linked");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx() -> ModuleIndex {
        ModuleIndex::parse(
            "v",
            "kernel/net/sunrpc/sunrpc.ko:\nkernel/fs/grace.ko:\n\
             kernel/fs/lockd.ko: kernel/fs/grace.ko kernel/net/sunrpc/sunrpc.ko\n\
             kernel/fs/nfs.ko: kernel/fs/lockd.ko kernel/fs/grace.ko kernel/net/sunrpc/sunrpc.ko\n\
             kernel/fs/nfsv3.ko: kernel/fs/nfs.ko kernel/fs/lockd.ko kernel/fs/grace.ko kernel/net/sunrpc/sunrpc.ko\n\
             kernel/fs/overlay.ko:\nkernel/virtio.ko:\nkernel/virtio_pci.ko: kernel/virtio.ko\n\
             kernel/virtio_net.ko: kernel/virtio.ko\nkernel/e1000.ko:\n",
            "kernel/net/packet/af_packet.ko\n",
            "",
            "",
        )
        .unwrap()
    }

    #[test]
    fn plan_for_explicit_nic() {
        let p = plan(&idx(), &["virtio-net".into()], false).unwrap();
        assert_eq!(p.builtin, ["af_packet"]);
        let nic = p.groups.iter().find(|g| g.class == Class::Nic).unwrap();
        assert_eq!(
            nic.paths,
            [
                "kernel/virtio.ko",
                "kernel/virtio_pci.ko",
                "kernel/virtio_net.ko"
            ]
        );
        assert!(!p.modules.contains("e1000"));
    }

    #[test]
    fn all_nics_skips_what_the_kernel_lacks() {
        let p = plan(&idx(), &[], true).unwrap();
        assert!(p.modules.contains("e1000") && p.modules.contains("virtio_net"));
        assert!(p.absent.contains(&"ixgbe".to_string()));
    }

    #[test]
    fn missing_explicit_nic_is_an_error_naming_it() {
        let err = plan(&idx(), &["ixgbe".into()], true).unwrap_err();
        assert!(err.to_string().contains("`ixgbe`"), "{err}");
    }

    #[test]
    fn init_must_be_static_elf() {
        assert_eq!(elf_problem(b"#!/bin/sh\n"), Some("not an ELF executable"));
        let mut elf = vec![0u8; 64 + 56];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[32..40].copy_from_slice(&64u64.to_le_bytes());
        elf[54..56].copy_from_slice(&56u16.to_le_bytes());
        elf[56..58].copy_from_slice(&1u16.to_le_bytes());
        assert_eq!(elf_problem(&elf), None);
        elf[64] = 3;
        assert_eq!(elf_problem(&elf), Some("dynamically linked"));
        elf[56..58].copy_from_slice(&9u16.to_le_bytes());
        assert_eq!(elf_problem(&elf), Some("dynamically linked"));
        elf[64] = 1;
        assert_eq!(elf_problem(&elf), Some("a truncated ELF file"));
    }
}
