//! Why an input could not be read. Every variant renders as one line that
//! says what to do next.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is a directory: pass a .config, /proc/config.gz or a kernel image (bzImage/vmlinux)")]
    IsDirectory { path: PathBuf },
    #[error(
        "{path} is empty: pass a .config, /proc/config.gz or a kernel image (bzImage/vmlinux)"
    )]
    Empty { path: PathBuf },
    #[error("{path}: {format} data is damaged or truncated ({detail}); copy the file again")]
    Decompress {
        path: PathBuf,
        format: &'static str,
        detail: String,
    },
    #[error("{path}: decompressed {format} data is not a kernel config ({detail})")]
    NotAConfigInside {
        path: PathBuf,
        format: &'static str,
        detail: String,
    },
    #[error("{path} is not a kernel config or kernel image ({detail}); pass a .config, /proc/config.gz, a bzImage or a vmlinux")]
    NotRecognized { path: PathBuf, detail: String },
    #[error("{path} is an ELF binary but not a Linux kernel (no \"Linux version\" string); pass a .config or a bzImage/vmlinux")]
    NotAKernel { path: PathBuf },
    #[error("{path} is a kernel ({version}) built without CONFIG_IKCONFIG, so it carries no config: pass its .config instead{hint}")]
    NoEmbeddedConfig {
        path: PathBuf,
        version: String,
        hint: String,
    },
    #[error("{path}: bzImage payload is compressed with {format}, which this tool cannot decode; pass the kernel's .config instead")]
    UnsupportedPayload { path: PathBuf, format: &'static str },
    #[error("{path}: bzImage header is damaged ({detail}); pass the kernel's .config instead")]
    BadBzImage { path: PathBuf, detail: String },
    #[error("no config for the running kernel: neither /proc/config.gz nor {boot} exists; pass a .config or a kernel image")]
    NoRunningConfig { boot: PathBuf },
    #[error("{path}:{line}: {message}")]
    Kconfig {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path} is not a kernel source tree (no Kconfig at its top); pass the directory unpacked from linux-source")]
    NotASourceTree { path: PathBuf },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
