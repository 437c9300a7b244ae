//! Starting programs and helpers: a child that shares init's memory until
//! its `execve` (like `posix_spawn`) but is not waited for, and forked
//! helper children.

use super::super::{Pid, SpawnSpec};
use nix::sys::signal::SigSet;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

fn cstring(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in command"))
}

/// Everything the child reads before its exec. It lives in init's memory,
/// which the child shares, so it is kept until the child has exited.
struct ChildArgs {
    path: CString,
    _argv: Vec<CString>,
    _envp: Vec<CString>,
    argv_p: Vec<*const libc::c_char>,
    envp_p: Vec<*const libc::c_char>,
    nice: i32,
    /// Write end of the exec report pipe (close-on-exec) in the child's
    /// descriptor table (init closes its own copy once the child exists).
    report: libc::c_int,
    stack: Vec<u8>,
}

/// A started child whose exec may still fail.
pub struct Started {
    pub pid: Pid,
    /// Read end of a pipe the child writes its `execve` errno to; a
    /// successful exec closes the child's end.
    exec_report: OwnedFd,
    _args: Box<ChildArgs>,
}

impl Started {
    /// The errno the child reported when its exec failed; `None` when the
    /// exec succeeded. Call once the child has exited (both ends of the
    /// child's pipe are closed then, so this never blocks).
    pub fn exec_error(&self) -> Option<i32> {
        let mut b = [0u8; 4];
        // SAFETY: reads at most 4 bytes into b from an open fd.
        let n = unsafe { libc::read(self.exec_report.as_raw_fd(), b.as_mut_ptr().cast(), b.len()) };
        (n == 4).then(|| i32::from_ne_bytes(b))
    }
}

const CHILD_STACK: usize = 64 * 1024;

/// Starts `spec` and returns as soon as the child exists.
///
/// `posix_spawn` (`CLONE_VM|CLONE_VFORK`) holds init until the child's exec
/// has loaded the program: 3–20 ms per service on a cold root under
/// emulation, one after the other. `fork` copies init's page tables (the
/// first fork of a boot costs ≈10 ms under emulation). This is
/// `clone(CLONE_VM)` without `CLONE_VFORK`: the child runs on its own small
/// stack in init's memory, makes only raw system calls (no libc, so not
/// even `errno`, which it would share with init), and execs while init goes
/// on. A failed exec (missing program, not executable) is written to the
/// exec report pipe and the child exits 127, so it arrives with the
/// child's exit ([`Started::exec_error`]).
///
/// The child gets a new session, an empty signal mask (init blocks the
/// signals it reads from its signalfd), default SIGPIPE (Rust ignores it),
/// stdin from `/dev/null`, `/` as working directory and `spec.nice`.
pub fn spawn(spec: &SpawnSpec) -> io::Result<Started> {
    let prog = spec
        .argv
        .first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty command"))?;
    let path = cstring(prog)?;
    let argv: Vec<CString> = spec
        .argv
        .iter()
        .map(|a| cstring(a))
        .collect::<io::Result<_>>()?;
    let envp: Vec<CString> = spec
        .env
        .iter()
        .map(|(k, v)| cstring(&format!("{k}={v}")))
        .collect::<io::Result<_>>()?;
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut envp_p: Vec<*const libc::c_char> = envp.iter().map(|a| a.as_ptr()).collect();
    envp_p.push(std::ptr::null());
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds is a valid out-array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 just returned these two open descriptors, owned here.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let mut args = Box::new(ChildArgs {
        path,
        _argv: argv,
        _envp: envp,
        argv_p,
        envp_p,
        nice: spec.nice,
        report: write.as_raw_fd(),
        stack: vec![0u8; CHILD_STACK],
    });
    let pid = start_child(&mut args)?;
    // The child has its own descriptor table: with init's copy of the write
    // end closed, the child's is the only one, and its exec closes it.
    drop(write);
    Ok(Started {
        pid,
        exec_report: read,
        _args: args,
    })
}

#[cfg(target_arch = "x86_64")]
fn start_child(args: &mut ChildArgs) -> io::Result<Pid> {
    // The stack grows down from the end of the buffer, 16-byte aligned.
    let top = (args.stack.as_mut_ptr() as usize + CHILD_STACK) & !15;
    let arg: *mut ChildArgs = args;
    // SAFETY: the child runs `child_main` on its own stack with `arg`,
    // which stays alive (in `Started`) until the child has exited; it only
    // reads it. Without CLONE_VFORK, clone returns at once.
    let pid = unsafe {
        libc::clone(
            child_main,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::SIGCHLD,
            arg.cast(),
        )
    };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(pid)
}

/// Other architectures: a plain fork (the child has its own memory, so
/// libc calls are fine there).
#[cfg(not(target_arch = "x86_64"))]
fn start_child(args: &mut ChildArgs) -> io::Result<Pid> {
    // SAFETY: init is single-threaded; the child execs or _exits.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            child_main((args as *mut ChildArgs).cast());
            // SAFETY: child_main never returns; this is unreachable.
            unsafe { libc::_exit(127) }
        }
        pid => Ok(pid),
    }
}

#[cfg(target_arch = "x86_64")]
mod raw {
    //! System calls without libc: the child shares init's thread-local
    //! `errno`, so it must not use libc's wrappers.
    pub const SETSID: usize = 112;
    pub const RT_SIGPROCMASK: usize = 14;
    pub const RT_SIGACTION: usize = 13;
    pub const OPENAT: usize = 257;
    pub const DUP2: usize = 33;
    pub const CLOSE: usize = 3;
    pub const CHDIR: usize = 80;
    pub const SETPRIORITY: usize = 141;
    pub const EXECVE: usize = 59;
    pub const WRITE: usize = 1;
    pub const EXIT_GROUP: usize = 231;

    /// One system call; returns the kernel's result (-errno on failure).
    ///
    /// # Safety
    /// The arguments must be valid for system call `n`.
    #[inline(always)]
    pub unsafe fn syscall(n: usize, a1: usize, a2: usize, a3: usize, a4: usize) -> isize {
        let ret: isize;
        core::arch::asm!(
            "syscall",
            inlateout("rax") n as isize => ret,
            in("rdi") a1,
            in("rsi") a2,
            in("rdx") a3,
            in("r10") a4,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack)
        );
        ret
    }
}

/// The child's side of [`spawn`]: never returns.
#[cfg(target_arch = "x86_64")]
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    use raw::*;
    // SAFETY: `arg` is the ChildArgs init keeps alive; only raw system
    // calls follow, on buffers in it or in this frame.
    unsafe {
        let a = &*(arg as *const ChildArgs);
        syscall(SETSID, 0, 0, 0, 0);
        let empty: u64 = 0;
        syscall(
            RT_SIGPROCMASK,
            libc::SIG_SETMASK as usize,
            &empty as *const u64 as usize,
            0,
            8,
        );
        // struct kernel_sigaction { handler, flags, restorer, mask }: SIG_DFL.
        let dfl = [0usize; 4];
        syscall(
            RT_SIGACTION,
            libc::SIGPIPE as usize,
            dfl.as_ptr() as usize,
            0,
            8,
        );
        let null = syscall(
            OPENAT,
            libc::AT_FDCWD as isize as usize,
            c"/dev/null".as_ptr() as usize,
            libc::O_RDONLY as usize,
            0,
        );
        if null > 0 {
            syscall(DUP2, null as usize, 0, 0, 0);
            syscall(CLOSE, null as usize, 0, 0, 0);
        }
        syscall(CHDIR, c"/".as_ptr() as usize, 0, 0, 0);
        // Set before the exec: the program never runs at init's priority.
        syscall(
            SETPRIORITY,
            libc::PRIO_PROCESS as usize,
            0,
            a.nice as isize as usize,
            0,
        );
        let r = syscall(
            EXECVE,
            a.path.as_ptr() as usize,
            a.argv_p.as_ptr() as usize,
            a.envp_p.as_ptr() as usize,
            0,
        );
        let errno = (-r) as i32;
        let bytes = errno.to_ne_bytes();
        syscall(WRITE, a.report as usize, bytes.as_ptr() as usize, 4, 0);
        syscall(EXIT_GROUP, 127, 0, 0, 0);
    }
    127
}

#[cfg(not(target_arch = "x86_64"))]
fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: a forked child with its own copy of `arg`; libc is fine here.
    unsafe {
        let a = &*(arg as *const ChildArgs);
        libc::setsid();
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
        if null > 0 {
            libc::dup2(null, 0);
            libc::close(null);
        }
        libc::chdir(c"/".as_ptr());
        libc::setpriority(libc::PRIO_PROCESS, 0, a.nice);
        libc::execve(a.path.as_ptr(), a.argv_p.as_ptr(), a.envp_p.as_ptr());
        let bytes = (*libc::__errno_location()).to_ne_bytes();
        libc::write(a.report, bytes.as_ptr().cast(), 4);
        libc::_exit(127)
    }
}

/// Forks a child of PID 1 that runs `work` with signals unblocked and exits
/// with its code; the parent gets the child's pid. The mount, clock and
/// report helpers run this way so nothing they wait on can block PID 1.
pub fn fork_helper(work: impl FnOnce() -> i32) -> io::Result<Pid> {
    // Held console lines would be written twice (the child inherits them).
    crate::log::release();
    // SAFETY: init is single-threaded; the child's Rust code only allocates,
    // makes syscalls and logs, and leaves with _exit, never returning into
    // code that could unwind.
    match unsafe { nix::unistd::fork() }.map_err(super::nix_err)? {
        nix::unistd::ForkResult::Parent { child } => Ok(child.as_raw()),
        nix::unistd::ForkResult::Child => {
            let _ = SigSet::empty().thread_set_mask();
            // Not init's raised start-up priority.
            // SAFETY: plain syscall on this process.
            unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 0) };
            let code = work();
            // SAFETY: terminates the child without running destructors.
            unsafe { libc::_exit(code) }
        }
    }
}

/// This thread's niceness.
#[cfg(test)]
pub fn niceness() -> i32 {
    // SAFETY: plain syscall; getpriority can return -1 legitimately, and
    // init only ever uses 0..=19, so a failure reads as 0.
    let n = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    n.clamp(-20, 19)
}
