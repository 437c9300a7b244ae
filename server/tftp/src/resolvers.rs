//! Worker threads that turn a request into the bytes to send: resolve the
//! name (open beneath the root, or render a generated config), convert
//! netascii, negotiate options. Off the event loops, so a cold disk read
//! never stalls the transfers in flight.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{mpsc, Arc, Mutex};

use bytes::Bytes;

use crate::bootfiles::ResolveError;
use crate::options::{negotiate, Agreed, Limits};
use crate::server::Resolver;
use crate::wire::Mode;

/// Threads resolving names; two keep one slow read from delaying every
/// other new transfer.
const WORKERS: usize = 2;

/// A name to resolve, and which loop wants the answer.
pub struct Job {
    pub owner: usize,
    pub peer: SocketAddr,
    pub generation: u64,
    pub name: Vec<u8>,
    pub mode: Mode,
    pub options: Vec<(String, String)>,
}

/// A resolved name, back to its loop.
pub struct Done {
    pub peer: SocketAddr,
    pub generation: u64,
    pub name: String,
    pub result: Result<(Bytes, Agreed), ResolveError>,
}

/// Where a loop receives its results: a channel, and the eventfd that
/// wakes the loop.
#[derive(Clone)]
pub struct Mailbox {
    pub tx: mpsc::Sender<Done>,
    pub wake: Arc<OwnedFd>,
}

/// Starts the workers; they end when the returned sender is dropped.
pub fn spawn(
    resolver: Arc<dyn Resolver>,
    limits: Limits,
    mailboxes: Vec<Mailbox>,
) -> std::io::Result<mpsc::Sender<Job>> {
    let (jobs, job_rx) = mpsc::channel::<Job>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    for i in 0..WORKERS {
        let (rx, boxes) = (job_rx.clone(), mailboxes.clone());
        let (resolver, limits) = (resolver.clone(), limits.clone());
        std::thread::Builder::new()
            .name(format!("tftp-resolve-{i}"))
            .spawn(move || loop {
                let job = match rx.lock() {
                    Ok(r) => r.recv(),
                    Err(_) => return,
                };
                // Every sender dropped: the server is stopping.
                let Ok(job) = job else { return };
                let Some(mb) = boxes.get(job.owner) else {
                    continue;
                };
                if mb.tx.send(resolve(&job, &*resolver, &limits)).is_err() {
                    return;
                }
                wake(&mb.wake);
            })?;
    }
    Ok(jobs)
}

fn resolve(job: &Job, resolver: &dyn Resolver, limits: &Limits) -> Done {
    let result = resolver.resolve(job.peer, &job.name).map(|content| {
        let content = match job.mode {
            Mode::Octet => content,
            Mode::Netascii => Bytes::from(crate::netascii::encode(&content)),
        };
        let opts: Vec<(&str, &str)> = job
            .options
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let agreed = negotiate(&opts, content.len() as u64, limits);
        (content, agreed)
    });
    Done {
        peer: job.peer,
        generation: job.generation,
        name: String::from_utf8_lossy(&job.name).into_owned(),
        result,
    }
}

/// Signals an eventfd (non-blocking; a full counter is already a wakeup).
pub fn wake(fd: &OwnedFd) {
    let one = 1u64.to_ne_bytes();
    // SAFETY: writes 8 bytes from a live buffer to an eventfd.
    unsafe { libc::write(fd.as_raw_fd(), one.as_ptr().cast(), 8) };
}

/// A non-blocking eventfd that wakes a loop.
pub fn eventfd() -> std::io::Result<OwnedFd> {
    // SAFETY: plain syscall; the fd is owned from here on.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh fd nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Resets an eventfd after a wakeup.
pub fn drain(fd: &OwnedFd) {
    let mut b = [0u8; 8];
    // SAFETY: reads at most 8 bytes into a live buffer (non-blocking fd).
    unsafe { libc::read(fd.as_raw_fd(), b.as_mut_ptr().cast(), 8) };
}
