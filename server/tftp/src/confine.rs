//! Opening files strictly beneath the boot root: `openat2` with
//! `RESOLVE_BENEATH` makes the kernel refuse `..`, absolute paths and
//! symlinks that leave the root; device files, FIFOs and directories are
//! refused after opening (opened non-blocking so a FIFO cannot hang us).

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{openat2, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use thiserror::Error;

#[derive(Error, Debug)]
pub enum ConfineError {
    #[error("file not found")]
    NotFound,
    #[error("path leaves the boot root")]
    Escape,
    #[error("not a regular file ({0})")]
    NotRegular(&'static str),
    #[error("permission denied")]
    Permission,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The boot root, held open as a directory descriptor.
#[derive(Debug)]
pub struct Root {
    dir: OwnedFd,
    path: PathBuf,
}

impl Root {
    pub fn open(path: &Path) -> std::io::Result<Root> {
        let dir = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root {
            dir,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens `rel` (already normalised) for reading; returns the file and
    /// its size.
    pub fn open_file(&self, rel: &str) -> Result<(File, std::fs::Metadata), ConfineError> {
        let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
        let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        let fd = openat2(&self.dir, rel, flags, Mode::empty(), resolve).map_err(|e| match e {
            Errno::NOENT | Errno::NOTDIR => ConfineError::NotFound,
            Errno::XDEV | Errno::LOOP => ConfineError::Escape,
            Errno::ACCESS | Errno::PERM => ConfineError::Permission,
            e => ConfineError::Io(e.into()),
        })?;
        let st = rustix::fs::fstat(&fd).map_err(std::io::Error::from)?;
        let kind = match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => None,
            FileType::Directory => Some("a directory"),
            FileType::CharacterDevice | FileType::BlockDevice => Some("a device"),
            FileType::Fifo => Some("a FIFO"),
            FileType::Socket => Some("a socket"),
            _ => Some("special file"),
        };
        if let Some(k) = kind {
            return Err(ConfineError::NotRegular(k));
        }
        let file = File::from(fd);
        let meta = file.metadata()?;
        Ok((file, meta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::CWD;
    use std::os::unix::fs::symlink;

    fn tmp(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("diskless-confine-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("root/sub")).unwrap();
        std::fs::write(d.join("root/sub/f"), b"hi").unwrap();
        std::fs::write(d.join("secret"), b"no").unwrap();
        d
    }

    #[test]
    fn confined() {
        let d = tmp("c");
        let r = Root::open(&d.join("root")).unwrap();
        symlink("sub/f", d.join("root/inside")).unwrap();
        symlink("../secret", d.join("root/rel-out")).unwrap();
        symlink(d.join("secret"), d.join("root/abs-out")).unwrap();
        symlink("/dev/null", d.join("root/null")).unwrap();
        assert_eq!(r.open_file("sub/f").unwrap().1.len(), 2);
        assert_eq!(r.open_file("inside").unwrap().1.len(), 2);
        assert!(matches!(r.open_file("rel-out"), Err(ConfineError::Escape)));
        assert!(matches!(r.open_file("abs-out"), Err(ConfineError::Escape)));
        assert!(matches!(r.open_file("null"), Err(ConfineError::Escape)));
        assert!(matches!(
            r.open_file("../secret"),
            Err(ConfineError::Escape)
        ));
        assert!(matches!(
            r.open_file("/etc/passwd"),
            Err(ConfineError::Escape)
        ));
        assert!(matches!(r.open_file("nope"), Err(ConfineError::NotFound)));
        assert!(matches!(
            r.open_file("sub"),
            Err(ConfineError::NotRegular(_))
        ));
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn fifo_refused_without_hanging() {
        let d = tmp("f");
        rustix::fs::mknodat(
            CWD,
            d.join("root/fifo"),
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let r = Root::open(&d.join("root")).unwrap();
        assert!(matches!(
            r.open_file("fifo"),
            Err(ConfineError::NotRegular("a FIFO"))
        ));
        std::fs::remove_dir_all(d).unwrap();
    }
}
