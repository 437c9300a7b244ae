//! One error type for the whole crate; every variant says what to do next.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "{dir} has no modules.dep: run `depmod -b ROOT VERSION` for this kernel \
         (ROOT is the directory above lib/modules)"
    )]
    NoModulesDep { dir: PathBuf },

    #[error("{file}:{line}: {message}")]
    Parse {
        file: String,
        line: usize,
        message: String,
    },

    #[error(
        "module `{name}` is not in {dir}/modules.dep nor in modules.builtin: check the name \
         (`modinfo -k VERSION {name}`) and that the modules directory belongs to the right kernel"
    )]
    ModuleMissing { name: String, dir: PathBuf },

    #[error("modules.dep has a dependency cycle: {}", chain.join(" -> "))]
    DependencyCycle { chain: Vec<String> },

    #[error("cannot decompress module {path}: {message}")]
    Decompress { path: PathBuf, message: String },

    #[error(
        "init binary {path} does not exist: build the static init with \
         `RUSTFLAGS=\"-C target-feature=+crt-static\" cargo build -p diskless-init --profile init \
         --target x86_64-unknown-linux-gnu`, or pass --init FILE"
    )]
    InitMissing { path: PathBuf },

    #[error(
        "init binary {path} is {problem}: the kernel runs /init before any library exists, \
         so it must be a static ELF executable (build with `-C target-feature=+crt-static`)"
    )]
    InitNotStatic {
        path: PathBuf,
        problem: &'static str,
    },

    #[error("bad path `{path}` in the image: {reason}")]
    BadPath { path: String, reason: &'static str },

    #[error("`{path}` is added twice to the image")]
    Duplicate { path: String },

    #[error("file `{path}` is too large for a newc cpio entry (4 GiB limit)")]
    TooLarge { path: String },

    #[error("not an initramfs: {message} at byte offset {offset}")]
    Format { offset: u64, message: String },

    #[error("io error while writing the image: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
