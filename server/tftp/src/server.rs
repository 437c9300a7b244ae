//! The public server handle: binds the sockets, then runs a few event
//! loops ([`crate::event_loop`]) on threads of their own until shutdown.
//!
//! - Requests arrive on the listening socket (port 69), read by loop 0,
//!   which hands each to the loop that owns the client (a hash of its
//!   address and port), so one client's requests always meet the same
//!   session table.
//! - Each loop sends and receives all its transfers on one *data* socket
//!   bound to an ephemeral port (the server's TID; RFC 1350 only asks that
//!   it is not 69). One socket per loop is what lets a boot storm move
//!   many ACKs per `recvmmsg` and many DATA per `sendmmsg` ([`crate::mmsg`]).
//! - Names are resolved on worker threads ([`crate::resolvers`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use bytes::Bytes;
use tokio::sync::watch;

use crate::bootfiles::ResolveError;
use crate::event_loop::EventLoop;
use crate::mmsg::{self, SendBatch};
use crate::options::Limits;
use crate::resolvers::{self, Mailbox};
use crate::sessions::Sessions;

/// Maps a request name to the bytes to send: files beneath the boot root,
/// or content generated on request (pxelinux configs, iPXE scripts).
/// Called on a worker thread, so it may read files.
pub trait Resolver: Send + Sync + 'static {
    fn resolve(&self, client: SocketAddr, raw_name: &[u8]) -> Result<Bytes, ResolveError>;

    /// The last block of `name` (as the client asked for it) was
    /// acknowledged by `client`. Called on the event loop: keep it short.
    fn finished(&self, _client: SocketAddr, _name: &str) {}
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
            // Half the CPUs: on a loaded box the other half carries the
            // kernel's receive work, the clients' side of loopback, and
            // the other services (a storm on 2 CPUs ran faster with one
            // loop than with two).
            0 => std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).clamp(1, 4)),
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
                resolver: self.resolver.clone(),
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
