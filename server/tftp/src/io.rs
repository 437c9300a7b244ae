//! The socket side: a few threads, each one loop driving many transfers.
//!
//! - Requests arrive on the listening socket (port 69), read by loop 0,
//!   which hands each to the loop that owns the client (a hash of its
//!   address and port), so one client's requests always meet the same
//!   session table.
//! - Each loop sends and receives all its transfers on one *data* socket
//!   bound to an ephemeral port (the server's TID; RFC 1350 only asks that
//!   it is not 69). Transfers are told apart by the client's address and
//!   port, which is also how a retransmitted RRQ is recognised
//!   ([`crate::sessions`]). One socket per loop is what lets a boot storm
//!   move many ACKs per `recvmmsg` and many DATA per `sendmmsg`
//!   ([`crate::mmsg`]).
//! - DATA payloads are slices of the shared in-memory file (`Bytes`), so
//!   nothing is copied or allocated per block.
//! - One lazy timer queue per loop; an ACK costs no timer work.
//! - Names are resolved on worker threads ([`crate::resolvers`]).
//!
//! The per-transfer protocol is [`crate::transfer::Transfer`], a state
//! machine this module only feeds.

use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::bootfiles::ResolveError;
use crate::mmsg::{self, RecvBatch, SendBatch};
use crate::options::Limits;
use crate::resolvers::{self, Done, Job, Mailbox};
use crate::sessions::{Admit, Sessions};
use crate::transfer::{Action, Outcome, Transfer};
use crate::window::Window;
use crate::wire::{self, ErrorCode, Packet};

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

pub struct TftpServer {
    request: std::net::UdpSocket,
    /// One per event loop.
    data: Vec<std::net::UdpSocket>,
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
        let loops = match limits.loops {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
            n => n,
        };
        let mut data = Vec::with_capacity(loops);
        for _ in 0..loops {
            let d = std::net::UdpSocket::bind(SocketAddr::new(addr.ip(), 0))?;
            // A storm's ACKs arrive in bursts; windows go out in bursts.
            mmsg::set_buffer(&d, false, 4 << 20);
            mmsg::set_buffer(&d, true, 4 << 20);
            data.push(d);
        }
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

    /// Serves on threads of its own until `shutdown` turns true (or its
    /// sender is dropped). Transfers in flight are abandoned then.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> std::io::Result<()> {
        let n = self.data.len();
        let stop = Arc::new(AtomicBool::new(false));
        let mut wakes = Vec::with_capacity(n);
        let mut dones = Vec::with_capacity(n);
        let mut inboxes = Vec::with_capacity(n);
        let mut mailboxes = Vec::with_capacity(n);
        let mut handoff = Vec::with_capacity(n);
        for _ in 0..n {
            let wake = Arc::new(resolvers::eventfd()?);
            let (tx, rx) = mpsc::channel();
            mailboxes.push(Mailbox {
                tx,
                wake: wake.clone(),
            });
            dones.push(rx);
            let (itx, irx) = mpsc::channel();
            handoff.push((itx, wake.clone()));
            inboxes.push(irx);
            wakes.push(wake);
        }
        let jobs = resolvers::spawn(self.resolver.clone(), self.limits.clone(), mailboxes)?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        self.request.set_nonblocking(true)?;
        let mut request = Some(self.request);
        let parts = self.data.into_iter().zip(dones).zip(inboxes).zip(&wakes);
        for (index, (((data, done), inbox), wake)) in parts.enumerate() {
            let lp = EventLoop {
                index,
                request: request.take(),
                handoff: if index == 0 {
                    handoff.clone()
                } else {
                    Vec::new()
                },
                inbox,
                data,
                wake: wake.clone(),
                stop: stop.clone(),
                limits: self.limits.clone(),
                stats: self.stats.clone(),
                sessions: Sessions::default(),
                jobs: Some(jobs.clone()),
                done,
                out: SendBatch::new(),
                unreported: 0,
            };
            let tx = tx.clone();
            std::thread::Builder::new()
                .name(format!("tftp-{index}"))
                .spawn(move || {
                    let _ = tx.send(lp.run());
                })?;
        }
        drop((jobs, tx, handoff));
        let first = tokio::select! {
            r = rx.recv() => r.unwrap_or(Ok(())),
            () = async { let _ = shutdown.wait_for(|s| *s).await; } => Ok(()),
        };
        // Stop the others (or all, on shutdown) and wait for them.
        stop.store(true, Ordering::Relaxed);
        for w in &wakes {
            resolvers::wake(w);
        }
        while rx.recv().await.is_some() {}
        first
    }
}

struct Running {
    transfer: Transfer,
    name: String,
}

/// A request handed from loop 0 to the loop that owns its client.
type Handoff = (SocketAddr, Vec<u8>);

struct EventLoop {
    index: usize,
    /// Loop 0 reads the request port and hands requests on.
    request: Option<std::net::UdpSocket>,
    handoff: Vec<(mpsc::Sender<Handoff>, Arc<OwnedFd>)>,
    inbox: mpsc::Receiver<Handoff>,
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
            let polled = match &self.request {
                Some(r) => {
                    mmsg::poll_readable(&[self.data.as_fd(), self.wake.as_fd(), r.as_fd()], wait_ms)
                }
                None => mmsg::poll_readable(&[self.data.as_fd(), self.wake.as_fd()], wait_ms),
            };
            let ready = match polled {
                Ok(r) => r,
                Err(e) => break Err(e),
            };
            if ready & 1 != 0 {
                self.on_data_socket(&mut acks)?;
            }
            if ready & 2 != 0 {
                resolvers::drain(&self.wake);
                while let Ok((peer, raw)) = self.inbox.try_recv() {
                    self.on_request(peer, &raw);
                }
                self.on_resolved();
            }
            if ready & 4 != 0 {
                self.on_request_socket(&mut requests);
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
        let Some(request) = self.request.take() else {
            return;
        };
        self.read_requests(&request, batch);
        self.request = Some(request);
    }

    fn read_requests(&mut self, request: &std::net::UdpSocket, batch: &mut RecvBatch) {
        loop {
            let n = match batch.recv(request) {
                Ok(n) => n,
                Err(e) => {
                    debug!("tftp: request socket: {e}");
                    return;
                }
            };
            for i in 0..n {
                let Some(d) = batch.get(i) else { continue };
                let to = crate::sessions::owner(&d.from, self.handoff.len());
                match self.handoff.get(to) {
                    Some((tx, wake)) if to != self.index => {
                        let _ = tx.send((d.from, d.data.to_vec()));
                        resolvers::wake(wake);
                    }
                    _ => self.on_request(d.from, d.data),
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
                    owner: self.index,
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
        // Refusals go back from the port the client wrote to.
        match &self.request {
            Some(r) => {
                let _ = r.send_to(&reply, peer);
            }
            None => self.out.push(&peer, None, &[], Bytes::from(reply)),
        }
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
