//! The tokio side: one listening socket for requests, one task and one
//! ephemeral socket per transfer (the transfer's TID). Tasks are cheap, so
//! thousands of concurrent transfers need no thread each.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::bootfiles::ResolveError;
use crate::options::{negotiate, Limits};
use crate::transfer::{Action, Outcome, Transfer};
use crate::wire::{self, ErrorCode, Mode, Packet};

/// Maps a request name to the bytes to send: files beneath the boot root,
/// or content generated on request (pxelinux configs, iPXE scripts).
/// Called on a blocking thread, so it may read files.
pub trait Resolver: Send + Sync + 'static {
    fn resolve(&self, client: SocketAddr, raw_name: &[u8]) -> Result<Bytes, ResolveError>;
}

/// Counters for `GET /status` and tests.
#[derive(Default, Debug)]
pub struct Stats {
    /// Transfers in progress right now (each holds a socket and a task).
    pub active: AtomicUsize,
    pub completed: AtomicU64,
    pub failed: AtomicU64,
    pub bytes_sent: AtomicU64,
}

struct ActiveGuard(Arc<Stats>);

impl ActiveGuard {
    fn new(s: &Arc<Stats>) -> Self {
        s.active.fetch_add(1, Ordering::Relaxed);
        ActiveGuard(s.clone())
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

pub struct TftpServer {
    socket: UdpSocket,
    resolver: Arc<dyn Resolver>,
    limits: Limits,
    stats: Arc<Stats>,
}

impl TftpServer {
    /// Binds the request socket; fails (e.g. `AddrInUse`) before any
    /// service starts.
    pub async fn bind(
        addr: SocketAddr,
        resolver: Arc<dyn Resolver>,
        limits: Limits,
    ) -> std::io::Result<TftpServer> {
        let socket = UdpSocket::bind(addr).await?;
        Ok(TftpServer {
            socket,
            resolver,
            limits,
            stats: Arc::new(Stats::default()),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// Like [`TftpServer::run`], on a thread of its own with a
    /// single-threaded runtime: lockstep transfers are latency-bound, and
    /// keeping the socket polling and the transfer tasks on one thread
    /// avoids a cross-thread wakeup per packet.
    pub fn run_on_own_thread(
        self,
        shutdown: watch::Receiver<bool>,
    ) -> impl std::future::Future<Output = std::io::Result<()>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let spawned = self.socket.into_std().and_then(|sock| {
            let (resolver, limits, stats) = (self.resolver, self.limits, self.stats);
            std::thread::Builder::new()
                .name("tftp".into())
                .spawn(move || {
                    let r = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .and_then(|rt| {
                            rt.block_on(async move {
                                let server = TftpServer {
                                    socket: UdpSocket::from_std(sock)?,
                                    resolver,
                                    limits,
                                    stats,
                                };
                                server.run(shutdown).await
                            })
                        });
                    let _ = tx.send(r);
                })
        });
        async move {
            spawned?;
            rx.await.unwrap_or(Ok(()))
        }
    }

    /// Serves until `shutdown` turns true. Transfers in flight are
    /// abandoned when the runtime stops.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> std::io::Result<()> {
        let local_ip = self.socket.local_addr()?.ip();
        let mut buf = vec![0u8; 65536];
        let mut out = Vec::with_capacity(512);
        loop {
            let (n, peer) = tokio::select! {
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok(v) => v,
                    // ICMP errors from earlier sends surface here; not fatal.
                    Err(e) => { debug!("tftp recv: {e}"); continue; }
                },
                _ = shutdown.changed() => return Ok(()),
            };
            out.clear();
            match Packet::parse(&buf[..n]) {
                Ok(Packet::Request {
                    write: false,
                    filename,
                    mode,
                    options,
                }) => {
                    let req = Request {
                        peer,
                        local_ip,
                        name: filename.to_vec(),
                        mode,
                        options: options
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect(),
                    };
                    let (r, l, s) = (
                        self.resolver.clone(),
                        self.limits.clone(),
                        self.stats.clone(),
                    );
                    tokio::spawn(session(req, r, l, s));
                }
                Ok(Packet::Request {
                    write: true,
                    filename,
                    ..
                }) => {
                    warn!(client = %peer, name = %String::from_utf8_lossy(filename), "tftp write refused");
                    wire::emit_error(
                        &mut out,
                        ErrorCode::AccessViolation,
                        "writes are not accepted",
                    );
                    let _ = self.socket.send_to(&out, peer).await;
                }
                Ok(_) => {
                    // Stray DATA/ACK to port 69, e.g. a late ACK: ignore.
                    debug!(client = %peer, "tftp: non-request packet on the request port");
                }
                Err(e) => {
                    warn!(client = %peer, "tftp: malformed request: {e}");
                    wire::emit_error(&mut out, ErrorCode::IllegalOperation, &e.to_string());
                    let _ = self.socket.send_to(&out, peer).await;
                }
            }
        }
    }
}

struct Request {
    peer: SocketAddr,
    local_ip: IpAddr,
    name: Vec<u8>,
    mode: Mode,
    options: Vec<(String, String)>,
}

async fn session(req: Request, resolver: Arc<dyn Resolver>, limits: Limits, stats: Arc<Stats>) {
    let _active = ActiveGuard::new(&stats);
    let name = String::from_utf8_lossy(&req.name).into_owned();
    let ok = match run_session(&req, &name, resolver, &limits, &stats).await {
        Ok(Outcome::Complete) => true,
        Ok(o) => {
            info!(client = %req.peer, %name, "tftp transfer ended: {o:?}");
            false
        }
        Err(e) => {
            debug!(client = %req.peer, %name, "tftp session: {e}");
            false
        }
    };
    let counter = if ok { &stats.completed } else { &stats.failed };
    counter.fetch_add(1, Ordering::Relaxed);
}

async fn run_session(
    req: &Request,
    name: &str,
    resolver: Arc<dyn Resolver>,
    limits: &Limits,
    stats: &Stats,
) -> std::io::Result<Outcome> {
    let sock = UdpSocket::bind((req.local_ip, 0)).await?;
    sock.connect(req.peer).await?;
    let mut out = Vec::with_capacity(65536 + 4);

    let (peer, raw) = (req.peer, req.name.clone());
    let resolved = tokio::task::spawn_blocking(move || resolver.resolve(peer, &raw))
        .await
        .unwrap_or_else(|e| Err(ResolveError::Io(e.to_string())));
    let content = match resolved {
        Ok(c) => c,
        Err(e) => {
            let code = match &e {
                ResolveError::NotFound(_) => {
                    info!(client = %req.peer, %name, "tftp: file not found");
                    ErrorCode::FileNotFound
                }
                ResolveError::Refused(why) => {
                    warn!(client = %req.peer, %name, "tftp: refused: {why}");
                    ErrorCode::AccessViolation
                }
                ResolveError::Io(why) => {
                    warn!(client = %req.peer, %name, "tftp: {why}");
                    ErrorCode::NotDefined
                }
            };
            let msg = match code {
                ErrorCode::FileNotFound => "file not found",
                ErrorCode::AccessViolation => "access denied",
                _ => "read error",
            };
            wire::emit_error(&mut out, code, msg);
            sock.send(&out).await?;
            return Ok(Outcome::ClientError(e.to_string()));
        }
    };
    let content = match req.mode {
        Mode::Octet => content,
        Mode::Netascii => Bytes::from(crate::netascii::encode(&content)),
    };
    let opts: Vec<(&str, &str)> = req
        .options
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let agreed = negotiate(&opts, content.len() as u64, limits);
    info!(client = %req.peer, %name, size = content.len(), blksize = agreed.blksize,
          window = agreed.window, "tftp: sending");
    let (mut t, mut action) = Transfer::start(content, &agreed, limits, Instant::now().into_std());
    let mut buf = vec![0u8; 65536];
    // One timer per transfer, re-armed only when it fires: resetting it on
    // every ACK costs more than the rest of the per-packet work.
    let timer = tokio::time::sleep_until(Instant::from_std(t.deadline()));
    tokio::pin!(timer);
    let mut unreported = 0u64;
    loop {
        match action {
            Action::Nothing => {}
            Action::SendOack => {
                sock.send(t.oack_bytes()).await?;
            }
            Action::SendBlocks(range) => {
                for b in range {
                    out.clear();
                    let payload = t.block_payload(b);
                    wire::emit_data(&mut out, crate::window::Window::wire(b), &payload);
                    sock.send(&out).await?;
                    unreported += payload.len() as u64;
                }
                if unreported >= 1 << 20 {
                    stats.bytes_sent.fetch_add(unreported, Ordering::Relaxed);
                    unreported = 0;
                }
            }
            Action::Abort(code, msg) => {
                out.clear();
                wire::emit_error(&mut out, code, msg);
                let _ = sock.send(&out).await;
            }
            Action::Finish(_) => {}
        }
        if t.is_done() {
            break;
        }
        action = tokio::select! {
            biased;
            r = sock.recv(&mut buf) => match r {
                Ok(n) => match Packet::parse(&buf[..n]) {
                    Ok(p) => t.on_packet(&p, Instant::now().into_std()),
                    Err(e) => { debug!(client = %req.peer, "tftp: bad packet: {e}"); Action::Nothing }
                },
                // ICMP port unreachable: the client is gone.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    stats.bytes_sent.fetch_add(unreported, Ordering::Relaxed);
                    return Ok(Outcome::ClientError("client port closed".into()));
                }
                Err(e) => return Err(e),
            },
            () = &mut timer => {
                let now = Instant::now().into_std();
                let a = if now >= t.deadline() { t.on_timeout(now) } else { Action::Nothing };
                timer.as_mut().reset(Instant::from_std(t.deadline()));
                a
            }
        };
    }
    stats.bytes_sent.fetch_add(unreported, Ordering::Relaxed);
    Ok(t.outcome().cloned().unwrap_or(Outcome::TimedOut))
}
