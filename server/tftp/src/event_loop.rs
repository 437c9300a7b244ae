//! One event loop: a thread driving many transfers over one data socket.
//!
//! - Transfers are told apart by the client's address and port, which is
//!   also how a retransmitted RRQ is recognised ([`crate::sessions`]).
//! - ACKs are read in `recvmmsg` batches and the DATA they release goes out
//!   in one `sendmmsg` ([`crate::mmsg`]).
//! - DATA payloads are slices of the shared in-memory file (`Bytes`), so
//!   nothing is copied or allocated per block.
//! - One lazy timer queue per loop; an ACK costs no timer work.
//!
//! The per-transfer protocol is [`crate::transfer::Transfer`], a state
//! machine this module only feeds.

use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::{debug, info, warn};

use crate::bootfiles::ResolveError;
use crate::mmsg::{self, RecvBatch, SendBatch};
use crate::options::Limits;
use crate::resolvers::{self, Done, Job};
use crate::server::{Resolver, Stats};
use crate::sessions::{Admit, Sessions};
use crate::transfer::{Action, Outcome, Transfer};
use crate::window::Window;
use crate::wire::{self, ErrorCode, Packet};

/// After reading at least this many datagrams at once, a loop waits
/// [`COALESCE`] on a timer before the next read (interrupt coalescing, as
/// NICs do it): only a boot storm batches that large.
const COALESCE_FROM: usize = 32;
const COALESCE: Duration = Duration::from_micros(50);

pub(crate) struct Running {
    transfer: Transfer,
    name: String,
}

/// A request handed from loop 0 to the loop that owns its client.
pub(crate) type Handoff = (SocketAddr, Vec<u8>);

pub(crate) struct EventLoop {
    pub(crate) index: usize,
    /// Loop 0 reads the request port and hands requests on.
    pub(crate) request: Option<std::net::UdpSocket>,
    pub(crate) handoff: Vec<(mpsc::Sender<Handoff>, Arc<OwnedFd>)>,
    pub(crate) inbox: mpsc::Receiver<Handoff>,
    pub(crate) data: std::net::UdpSocket,
    pub(crate) wake: Arc<OwnedFd>,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) limits: Limits,
    pub(crate) stats: Arc<Stats>,
    pub(crate) sessions: Sessions<Running>,
    pub(crate) jobs: Option<mpsc::Sender<Job>>,
    /// Told when a transfer completes.
    pub(crate) resolver: Arc<dyn Resolver>,
    pub(crate) done: mpsc::Receiver<Done>,
    pub(crate) out: SendBatch,
    pub(crate) unreported: u64,
}

impl EventLoop {
    pub(crate) fn run(mut self) -> std::io::Result<()> {
        let mut acks = RecvBatch::new(128, 1024);
        let mut requests = RecvBatch::new(16, 4096);
        let mut busy = false;
        let result = loop {
            if self.stop.load(Ordering::Relaxed) {
                break Ok(());
            }
            if busy {
                // A big batch last time: let the next one gather on a
                // timer rather than sleeping on the socket, so clients'
                // ACKs wake nobody (a wakeup per ACK burst is a large part
                // of a datagram's cost on a VM). Costs a storm's clients at
                // most this much latency; a lone transfer never waits.
                std::thread::sleep(COALESCE);
            }
            let wait_ms = match self.sessions.next_deadline() {
                _ if busy => 0,
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
            busy = false;
            if ready & 1 != 0 {
                busy = self.on_data_socket(&mut acks)? >= COALESCE_FROM;
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
    /// Returns the datagrams read.
    fn on_data_socket(&mut self, batch: &mut RecvBatch) -> std::io::Result<usize> {
        let mut moved = 0;
        loop {
            let n = match batch.recv(&self.data) {
                Ok(n) => n,
                Err(e) => {
                    debug!("tftp: data socket: {e}");
                    return Ok(moved);
                }
            };
            moved += n;
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
                return Ok(moved);
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
                self.resolver.finished(*peer, &run.name);
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
