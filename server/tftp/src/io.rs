//! The socket side: one thread runs one loop that drives every transfer.
//!
//! - Requests arrive on the listening socket (port 69).
//! - All transfers send and receive on one *data* socket bound to an
//!   ephemeral port (the server's TID; RFC 1350 only asks that it is not
//!   69). Transfers are told apart by the client's address and port, which
//!   is also how a retransmitted RRQ is recognised ([`crate::sessions`]).
//!   One socket is what lets a boot storm move many ACKs per `recvmmsg` and
//!   many DATA per `sendmmsg` ([`crate::mmsg`]).
//! - DATA payloads are slices of the shared in-memory file (`Bytes`), so
//!   nothing is copied or allocated per block.
//! - One lazy timer queue for all transfers; an ACK costs no timer work.
//! - Names are resolved (files read, configs rendered) on two worker
//!   threads, so a cold read never stalls the transfers in flight.
//!
//! The per-transfer protocol is [`crate::transfer::Transfer`], a state
//! machine this module only feeds.

use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::bootfiles::ResolveError;
use crate::mmsg::{self, RecvBatch, SendBatch};
use crate::options::{negotiate, Agreed, Limits};
use crate::sessions::{Admit, Sessions};
use crate::transfer::{Action, Outcome, Transfer};
use crate::window::Window;
use crate::wire::{self, ErrorCode, Mode, Packet};

/// Maps a request name to the bytes to send: files beneath the boot root,
/// or content generated on request (pxelinux configs, iPXE scripts).
/// Called on a worker thread, so it may read files.
pub trait Resolver: Send + Sync + 'static {
    fn resolve(&self, client: SocketAddr, raw_name: &[u8]) -> Result<Bytes, ResolveError>;
}

/// Counters for `GET /status` and tests.
#[derive(Default, Debug)]
pub struct Stats {
    /// Transfers in progress right now (resolving or sending).
    pub active: AtomicUsize,
    pub completed: AtomicU64,
    pub failed: AtomicU64,
    pub bytes_sent: AtomicU64,
}

/// Threads resolving names; two keep one slow disk read from delaying
/// every other new transfer.
const RESOLVERS: usize = 2;

pub struct TftpServer {
    request: std::net::UdpSocket,
    data: std::net::UdpSocket,
    resolver: Arc<dyn Resolver>,
    limits: Limits,
    stats: Arc<Stats>,
}

impl TftpServer {
    /// Binds the request socket and the data socket; fails (e.g.
    /// `AddrInUse`) before any service starts.
    pub async fn bind(
        addr: SocketAddr,
        resolver: Arc<dyn Resolver>,
        limits: Limits,
    ) -> std::io::Result<TftpServer> {
        let request = std::net::UdpSocket::bind(addr)?;
        let data = std::net::UdpSocket::bind(SocketAddr::new(addr.ip(), 0))?;
        // A storm's ACKs arrive in bursts; windows go out in bursts.
        mmsg::set_buffer(&data, false, 4 << 20);
        mmsg::set_buffer(&data, true, 4 << 20);
        Ok(TftpServer {
            request,
            data,
            resolver,
            limits,
            stats: Arc::new(Stats::default()),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.request.local_addr()
    }

    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// Same as [`TftpServer::run`] (the loop always has a thread of its
    /// own); kept for callers written against the earlier API.
    pub fn run_on_own_thread(
        self,
        shutdown: watch::Receiver<bool>,
    ) -> impl std::future::Future<Output = std::io::Result<()>> {
        self.run(shutdown)
    }

    /// Serves on a thread of its own until `shutdown` turns true (or its
    /// sender is dropped). Transfers in flight are abandoned then.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> std::io::Result<()> {
        let wake = Arc::new(eventfd()?);
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let (w, s) = (wake.clone(), stop.clone());
        std::thread::Builder::new()
            .name("tftp".into())
            .spawn(move || {
                let _ = tx.send(EventLoop::new(self, w, s).and_then(EventLoop::run));
            })?;
        tokio::select! {
            r = &mut rx => r.unwrap_or(Ok(())),
            () = async { let _ = shutdown.wait_for(|s| *s).await; } => {
                stop.store(true, Ordering::Relaxed);
                signal(&wake);
                rx.await.unwrap_or(Ok(()))
            }
        }
    }
}

fn eventfd() -> std::io::Result<OwnedFd> {
    // SAFETY: plain syscall; the fd is owned from here on.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh fd nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn signal(fd: &OwnedFd) {
    let one = 1u64.to_ne_bytes();
    // SAFETY: writes 8 bytes from a live buffer to an eventfd.
    unsafe { libc::write(fd.as_raw_fd(), one.as_ptr().cast(), 8) };
}

fn drain(fd: &OwnedFd) {
    let mut b = [0u8; 8];
    // SAFETY: reads at most 8 bytes into a live buffer (non-blocking fd).
    unsafe { libc::read(fd.as_raw_fd(), b.as_mut_ptr().cast(), 8) };
}

/// A name to resolve, for the worker threads.
struct Job {
    peer: SocketAddr,
    generation: u64,
    name: Vec<u8>,
    mode: Mode,
    options: Vec<(String, String)>,
}

/// A resolved name, back to the loop.
struct Done {
    peer: SocketAddr,
    generation: u64,
    name: String,
    result: Result<(Bytes, Agreed), ResolveError>,
}

fn resolve_job(job: &Job, resolver: &dyn Resolver, limits: &Limits) -> Done {
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

struct Running {
    transfer: Transfer,
    name: String,
}

struct EventLoop {
    request: std::net::UdpSocket,
    data: std::net::UdpSocket,
    wake: Arc<OwnedFd>,
    stop: Arc<AtomicBool>,
    limits: Limits,
    stats: Arc<Stats>,
    sessions: Sessions<Running>,
    jobs: Option<mpsc::Sender<Job>>,
    done: mpsc::Receiver<Done>,
    out: SendBatch,
    unreported: u64,
}

impl EventLoop {
    fn new(s: TftpServer, wake: Arc<OwnedFd>, stop: Arc<AtomicBool>) -> std::io::Result<Self> {
        s.request.set_nonblocking(true)?;
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (done_tx, done) = mpsc::channel();
        let job_rx = Arc::new(Mutex::new(job_rx));
        for i in 0..RESOLVERS {
            let (rx, tx, w) = (job_rx.clone(), done_tx.clone(), wake.clone());
            let (resolver, limits) = (s.resolver.clone(), s.limits.clone());
            std::thread::Builder::new()
                .name(format!("tftp-resolve-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    // The loop dropped its sender: shutting down.
                    let Ok(job) = job else { return };
                    if tx.send(resolve_job(&job, &*resolver, &limits)).is_err() {
                        return;
                    }
                    signal(&w);
                })?;
        }
        Ok(EventLoop {
            request: s.request,
            data: s.data,
            wake,
            stop,
            limits: s.limits,
            stats: s.stats,
            sessions: Sessions::default(),
            jobs: Some(jobs),
            done,
            out: SendBatch::new(),
            unreported: 0,
        })
    }

    fn run(mut self) -> std::io::Result<()> {
        let mut acks = RecvBatch::new(128, 1024);
        let mut requests = RecvBatch::new(16, 4096);
        let result = loop {
            if self.stop.load(Ordering::Relaxed) {
                break Ok(());
            }
            let wait_ms = match self.sessions.next_deadline() {
                Some(d) => {
                    d.saturating_duration_since(Instant::now())
                        .as_millis()
                        .min(1000) as i32
                        + 1
                }
                None => 1000,
            };
            let ready = match mmsg::poll_readable(
                [self.data.as_fd(), self.request.as_fd(), self.wake.as_fd()],
                wait_ms,
            ) {
                Ok(r) => r,
                Err(e) => break Err(e),
            };
            if ready[0] {
                self.on_data_socket(&mut acks)?;
            }
            if ready[1] {
                self.on_request_socket(&mut requests);
            }
            if ready[2] {
                drain(&self.wake);
                self.on_resolved();
            }
            self.on_timers();
            self.out.flush(&self.data)?;
            if self.unreported > 0 {
                self.stats
                    .bytes_sent
                    .fetch_add(self.unreported, Ordering::Relaxed);
                self.unreported = 0;
            }
        };
        // Workers see the closed channel and end.
        self.jobs = None;
        result
    }

    /// ACKs (and client ERRORs) for running transfers, a batch at a time;
    /// the replies to one batch go out in one `sendmmsg`.
    fn on_data_socket(&mut self, batch: &mut RecvBatch) -> std::io::Result<()> {
        loop {
            let n = match batch.recv(&self.data) {
                Ok(n) => n,
                Err(e) => {
                    debug!("tftp: data socket: {e}");
                    return Ok(());
                }
            };
            let now = Instant::now();
            for i in 0..n {
                let Some(d) = batch.get(i) else { continue };
                let Some(run) = self.sessions.get_mut(&d.from) else {
                    debug!(client = %d.from, "tftp: packet for no transfer (late ACK?)");
                    continue;
                };
                let action = match Packet::parse(d.data) {
                    Ok(p) => run.transfer.on_packet(&p, now),
                    Err(e) => {
                        debug!(client = %d.from, "tftp: bad packet: {e}");
                        continue;
                    }
                };
                self.unreported += emit(&mut self.out, &d.from, &run.transfer, action);
                if run.transfer.is_done() {
                    let peer = d.from;
                    self.finish(&peer);
                }
            }
            self.out.flush(&self.data)?;
            if n < batch.capacity() {
                return Ok(());
            }
        }
    }

    fn on_request_socket(&mut self, batch: &mut RecvBatch) {
        loop {
            let n = match batch.recv(&self.request) {
                Ok(n) => n,
                Err(e) => {
                    debug!("tftp: request socket: {e}");
                    return;
                }
            };
            for i in 0..n {
                if let Some(d) = batch.get(i) {
                    self.on_request(d.from, d.data);
                }
            }
            if n < batch.capacity() {
                return;
            }
        }
    }

    fn on_request(&mut self, peer: SocketAddr, raw: &[u8]) {
        let mut reply = Vec::new();
        match Packet::parse(raw) {
            Ok(Packet::Request {
                write: false,
                filename,
                mode,
                options,
            }) => {
                let generation = match self.sessions.admit(peer, raw) {
                    Admit::Duplicate => {
                        debug!(client = %peer, "tftp: repeated RRQ for a transfer in progress");
                        return;
                    }
                    Admit::New(g) => {
                        self.stats.active.fetch_add(1, Ordering::Relaxed);
                        g
                    }
                    Admit::Replaced(g) => {
                        info!(client = %peer, "tftp: new request from the same port; previous transfer dropped");
                        self.stats.failed.fetch_add(1, Ordering::Relaxed);
                        g
                    }
                };
                let job = Job {
                    peer,
                    generation,
                    name: filename.to_vec(),
                    mode,
                    options: options
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                };
                if let Some(jobs) = &self.jobs {
                    let _ = jobs.send(job);
                }
                return;
            }
            Ok(Packet::Request {
                write: true,
                filename,
                ..
            }) => {
                warn!(client = %peer, name = %String::from_utf8_lossy(filename), "tftp write refused");
                wire::emit_error(
                    &mut reply,
                    ErrorCode::AccessViolation,
                    "writes are not accepted",
                );
            }
            Ok(_) => {
                // Stray DATA/ACK to port 69, e.g. a late ACK: ignore.
                debug!(client = %peer, "tftp: non-request packet on the request port");
                return;
            }
            Err(e) => {
                warn!(client = %peer, "tftp: malformed request: {e}");
                wire::emit_error(&mut reply, ErrorCode::IllegalOperation, &e.to_string());
            }
        }
        let _ = self.request.send_to(&reply, peer);
    }

    /// Resolved names: start the transfer, or answer with an ERROR.
    fn on_resolved(&mut self) {
        let now = Instant::now();
        while let Ok(d) = self.done.try_recv() {
            if !self.sessions.is_current(&d.peer, d.generation) {
                continue; // replaced meanwhile
            }
            let peer = d.peer;
            let name = d.name;
            match d.result {
                Ok((content, agreed)) => {
                    info!(client = %peer, %name, size = content.len(), blksize = agreed.blksize,
                          window = agreed.window, "tftp: sending");
                    let (t, action) = Transfer::start(content, &agreed, &self.limits, now);
                    self.unreported += emit(&mut self.out, &peer, &t, action);
                    let deadline = t.deadline();
                    let run = Running { transfer: t, name };
                    let _ = self.sessions.start(peer, d.generation, run, deadline);
                }
                Err(e) => {
                    let (code, msg) = match &e {
                        ResolveError::NotFound(_) => {
                            info!(client = %peer, %name, "tftp: file not found");
                            (ErrorCode::FileNotFound, "file not found")
                        }
                        ResolveError::Refused(why) => {
                            warn!(client = %peer, %name, "tftp: refused: {why}");
                            (ErrorCode::AccessViolation, "access denied")
                        }
                        ResolveError::Io(why) => {
                            warn!(client = %peer, %name, "tftp: {why}");
                            (ErrorCode::NotDefined, "read error")
                        }
                    };
                    let mut v = Vec::new();
                    wire::emit_error(&mut v, code, msg);
                    self.out.push(&peer, None, &[], Bytes::from(v));
                    self.sessions.remove(&peer);
                    self.stats.active.fetch_sub(1, Ordering::Relaxed);
                    self.stats.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Retransmits for transfers whose deadline passed; ends those out of
    /// retries.
    fn on_timers(&mut self) {
        let now = Instant::now();
        while let Some(peer) = self.sessions.pop_due(now) {
            let Some(run) = self.sessions.get_mut(&peer) else {
                continue;
            };
            let action = run.transfer.on_timeout(now);
            self.unreported += emit(&mut self.out, &peer, &run.transfer, action);
            if run.transfer.is_done() {
                self.finish(&peer);
            } else {
                let d = run.transfer.deadline();
                self.sessions.schedule(peer, d);
            }
        }
    }

    fn finish(&mut self, peer: &SocketAddr) {
        let Some(run) = self.sessions.remove(peer) else {
            return;
        };
        self.stats.active.fetch_sub(1, Ordering::Relaxed);
        match run.transfer.outcome() {
            Some(Outcome::Complete) => {
                self.stats.completed.fetch_add(1, Ordering::Relaxed);
            }
            o => {
                info!(client = %peer, name = %run.name, "tftp transfer ended: {o:?}");
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Queues what `action` asks for; returns the payload bytes queued.
fn emit(out: &mut SendBatch, peer: &SocketAddr, t: &Transfer, action: Action) -> u64 {
    match action {
        Action::Nothing | Action::Finish(_) => 0,
        Action::SendOack => {
            out.push(peer, None, &[], t.oack());
            0
        }
        Action::SendBlocks(range) => {
            let mut n = 0;
            for b in range {
                let payload = t.block_payload(b);
                n += payload.len() as u64;
                let [hi, lo] = Window::wire(b).to_be_bytes();
                out.push(peer, None, &[0, wire::OP_DATA as u8, hi, lo], payload);
            }
            n
        }
        Action::Abort(code, msg) => {
            let mut v = Vec::new();
            wire::emit_error(&mut v, code, msg);
            out.push(peer, None, &[], Bytes::from(v));
            0
        }
    }
}
