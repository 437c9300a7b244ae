//! The real syscalls behind the initramfs-stage methods of
//! [`crate::sys::Sys`]; `LinuxSys` delegates here so that `sys/linux.rs`
//! stays about the root stage.

use std::ffi::CString;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in string"))
}

pub fn list_dir(path: &str) -> io::Result<Vec<String>> {
    let mut out: Vec<String> = std::fs::read_dir(path)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    Ok(out)
}

pub fn finit_module(path: &str) -> io::Result<()> {
    let f = std::fs::File::open(path)?;
    let empty = cstr("")?;
    // SAFETY: a valid fd and a NUL-terminated empty parameter string.
    let r = unsafe { libc::syscall(libc::SYS_finit_module, f.as_raw_fd(), empty.as_ptr(), 0) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn ifreq(ifname: &str) -> io::Result<libc::ifreq> {
    if ifname.is_empty() || ifname.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name `{ifname}`"),
        ));
    }
    // SAFETY: ifreq is plain data.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in ifname.bytes().enumerate() {
        req.ifr_name[i] = b as libc::c_char;
    }
    Ok(req)
}

fn sockaddr(addr: Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(addr).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr have the same size on Linux.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

fn ioctl_inet<T>(request: libc::Ioctl, arg: &mut T) -> io::Result<()> {
    let sock = UdpSocket::bind("0.0.0.0:0")?;
    // SAFETY: `arg` is the structure this request expects.
    let r = unsafe { libc::ioctl(sock.as_raw_fd(), request, arg as *mut T) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub fn set_ipv4(ifname: &str, addr: Ipv4Addr, mask: Ipv4Addr) -> io::Result<()> {
    let mut req = ifreq(ifname)?;
    req.ifr_ifru.ifru_addr = sockaddr(addr);
    ioctl_inet(libc::SIOCSIFADDR, &mut req)?;
    let mut req = ifreq(ifname)?;
    req.ifr_ifru.ifru_netmask = sockaddr(mask);
    ioctl_inet(libc::SIOCSIFNETMASK, &mut req)
}

pub fn add_default_route(gw: Ipv4Addr) -> io::Result<()> {
    // SAFETY: rtentry is plain data.
    let mut rt: libc::rtentry = unsafe { std::mem::zeroed() };
    rt.rt_dst = sockaddr(Ipv4Addr::UNSPECIFIED);
    rt.rt_genmask = sockaddr(Ipv4Addr::UNSPECIFIED);
    rt.rt_gateway = sockaddr(gw);
    rt.rt_flags = libc::RTF_UP | libc::RTF_GATEWAY;
    ioctl_inet(libc::SIOCADDRT, &mut rt)
}

/// A UDP socket on port 68 bound to the device (SO_BINDTODEVICE) with
/// broadcast on: the kernel sends from 0.0.0.0 on an address-less link,
/// and we ask the server for broadcast replies so they reach us.
pub fn dhcp_exchange(ifname: &str, request: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
    let sock = UdpSocket::bind("0.0.0.0:68")?;
    sock.set_broadcast(true)?;
    let name = cstr(ifname)?;
    // SAFETY: the option value is the NUL-terminated device name.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            name.as_ptr().cast(),
            name.as_bytes_with_nul().len() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    sock.send_to(request, "255.255.255.255:67")?;
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 1500];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::from_raw_os_error(libc::EAGAIN));
        }
        sock.set_read_timeout(Some(left))?;
        let (n, from) = sock.recv_from(&mut buf)?;
        if let SocketAddr::V4(f) = from {
            if f.port() == 67 {
                return Ok(buf[..n].to_vec());
            }
        }
    }
}

/// Deletes `path`'s contents on its own filesystem; directories on other
/// filesystems (mount points: /newroot, the NFS and tmpfs mounts) are kept.
pub fn remove_tree_same_fs(path: &str) -> io::Result<()> {
    let dev = std::fs::symlink_metadata(path)?.dev();
    remove_children(Path::new(path), dev);
    Ok(())
}

fn remove_children(dir: &Path, dev: u64) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.filter_map(|e| e.ok()) {
        let p = e.path();
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.dev() != dev {
            continue;
        }
        if m.is_dir() {
            remove_children(&p, dev);
            // Fails for mount points of the same type; they stay, harmlessly.
            let _ = std::fs::remove_dir(&p);
        } else {
            let _ = std::fs::remove_file(&p);
        }
    }
}

pub fn switch_root(new_root: &str) -> io::Result<()> {
    let errno = |e: nix::Error| io::Error::from_raw_os_error(e as i32);
    nix::unistd::chdir(new_root).map_err(errno)?;
    nix::mount::mount(
        Some("."),
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_MOVE,
        None::<&str>,
    )
    .map_err(errno)?;
    nix::unistd::chroot(".").map_err(errno)?;
    nix::unistd::chdir("/").map_err(errno)
}

pub fn exec(argv: &[String]) -> io::Error {
    let args: Result<Vec<CString>, _> = argv.iter().map(|a| cstr(a)).collect();
    let args = match args {
        Ok(a) if !a.is_empty() => a,
        Ok(_) => return io::Error::new(io::ErrorKind::InvalidInput, "empty argv"),
        Err(e) => return e,
    };
    match nix::unistd::execv(&args[0], &args) {
        Ok(never) => match never {},
        Err(e) => io::Error::from_raw_os_error(e as i32),
    }
}
