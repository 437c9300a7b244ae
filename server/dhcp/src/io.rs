//! Sockets: DHCP on 67 and 4011 bound to the serving interface
//! (SO_BINDTODEVICE, SO_BROADCAST), read and written in batches
//! ([`crate::batch`]), a committer thread that makes pool leases durable
//! in groups before their ACKs go out, and the entry point that runs DHCP,
//! RA and SNTP together.
//!
//! Replies to clients without an address are broadcast (see
//! [`crate::reply::destination`]): unicasting to `yiaddr` would need an ARP
//! entry for a host that cannot answer ARP yet.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsFd;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use socket2::{Domain, Protocol, Socket, Type};

use diskless_common::inventory::{DhcpMode, Inventory};

use crate::batch;
use crate::config::{ConfigError, DhcpConfig};
use crate::events::Events;
use crate::journal::{self, Journal, JournalError, Record};
use crate::policy::{Dhcp, Port};
use crate::reply::{PXE_PORT, SERVER_PORT};

#[derive(Debug, thiserror::Error)]
pub enum IoError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("no interface holds the server address {0}: add it (ip addr add {0}/… dev …) or name the interface in the inventory")]
    NoInterface(Ipv4Addr),
    #[error("cannot open {what} socket on {iface}: {source} (run as root, and check no other DHCP/NTP server holds the port)")]
    Socket {
        what: &'static str,
        iface: String,
        source: std::io::Error,
    },
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The interface that holds `addr`.
pub fn interface_for(addr: Ipv4Addr) -> Option<String> {
    nix::ifaddrs::getifaddrs().ok()?.find_map(|ifa| {
        let a = ifa.address?.as_sockaddr_in()?.ip();
        (a == addr).then_some(ifa.interface_name)
    })
}

/// The configured interface, or the one holding the server address.
pub fn serving_interface(cfg: &DhcpConfig) -> Result<String, IoError> {
    match &cfg.interface {
        Some(i) => Ok(i.clone()),
        None => interface_for(cfg.server).ok_or(IoError::NoInterface(cfg.server)),
    }
}

/// Replays the lease file, builds the state machine, compacts the file.
pub fn prepare(cfg: DhcpConfig, inv: Arc<Inventory>) -> Result<(Dhcp, Option<Journal>), IoError> {
    let replayed = match &cfg.lease_file {
        Some(p) => journal::replay(p)?,
        None => journal::Replay::default(),
    };
    if replayed.bad_lines > 0 {
        tracing::warn!(
            bad = replayed.bad_lines,
            "skipped unreadable lines in the lease file (torn last write?)"
        );
    }
    let path = cfg.lease_file.clone();
    let dhcp = Dhcp::new(cfg, inv, &replayed.records)?;
    let journal = match path {
        Some(p) => {
            let j = Journal::create_compacted(&p, &dhcp.pool().live_records(unix_now()))?;
            tracing::info!(file = %p.display(), leases = dhcp.pool().len(), "lease file replayed");
            Some(j)
        }
        None => None,
    };
    Ok((dhcp, journal))
}

fn udp_socket(iface: &str, port: u16, what: &'static str) -> Result<Socket, IoError> {
    let err = |source| IoError::Socket {
        what,
        iface: iface.into(),
        source,
    };
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(err)?;
    s.set_reuse_address(true).map_err(err)?;
    s.set_broadcast(true).map_err(err)?;
    s.bind_device(Some(iface.as_bytes())).map_err(err)?;
    // Broadcast DISCOVERs arrive for 255.255.255.255: bind the wildcard and
    // let SO_BINDTODEVICE keep us on one interface.
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())
        .map_err(err)?;
    // Bursts (a rack powering on, or a scheduling stall on a busy host)
    // overflow the default ~200 KiB buffer. SO_RCVBUFFORCE passes the
    // rmem_max cap when we are root; otherwise take what the cap allows.
    force_buffer(&s, libc::SO_RCVBUFFORCE, 8 << 20);
    force_buffer(&s, libc::SO_SNDBUFFORCE, 4 << 20);
    Ok(s)
}

fn force_buffer(s: &Socket, opt: libc::c_int, bytes: libc::c_int) {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid fd and a c_int option value for the call's duration.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            (&bytes as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        let _ = if opt == libc::SO_RCVBUFFORCE {
            s.set_recv_buffer_size(bytes as usize)
        } else {
            s.set_send_buffer_size(bytes as usize)
        };
    }
}

/// One reply waiting for its journal record to be durable.
struct Pending {
    record: Option<Record>,
    reply: Option<(Vec<u8>, SocketAddrV4)>,
}

/// Most replies held for one group commit.
const MAX_COMMIT: usize = 4096;
/// Most requests taken per `recvmmsg`.
const RECV_BATCH: usize = 64;

/// Group commit: take everything queued, write it, one fdatasync, then send
/// the replies in one `sendmmsg`. A failed write sends no ACKs (the
/// clients retry).
fn committer(
    mut journal: Option<Journal>,
    sock: std::net::UdpSocket,
    rx: mpsc::Receiver<Vec<Pending>>,
    events: Arc<Events>,
) {
    let mut batch: Vec<Pending> = Vec::new();
    let mut records = Vec::new();
    let mut replies = Vec::new();
    while let Ok(first) = rx.recv() {
        batch.extend(first);
        while batch.len() < MAX_COMMIT {
            match rx.try_recv() {
                Ok(more) => batch.extend(more),
                Err(_) => break,
            }
        }
        records.clear();
        records.extend(batch.iter().filter_map(|p| p.record));
        let durable = match journal.as_mut() {
            Some(j) => match j.commit(&records) {
                Ok(()) => true,
                Err(e) => {
                    tracing::error!("{e}; not acknowledging {} leases", records.len());
                    false
                }
            },
            None => true,
        };
        replies.clear();
        replies.extend(batch.drain(..).filter_map(|p| p.reply.filter(|_| durable)));
        let sent = batch::send_all(sock.as_fd(), &replies);
        events
            .counters
            .replies
            .fetch_add(sent as u64, std::sync::atomic::Ordering::Relaxed);
    }
}

type InventorySource = Box<dyn Fn() -> Arc<Inventory> + Send>;

/// The state machine and where to ask for the current inventory, shared by
/// the two receive threads (67 and 4011; the latter is nearly idle).
struct Shared {
    dhcp: Dhcp,
    inventory: Option<InventorySource>,
}

/// One receive thread: a blocking `recvmmsg` takes every queued request,
/// the whole batch is decided under one lock, then immediate replies go out
/// in one `sendmmsg` and ACKs that need a durable lease go to the
/// committer as one message. Plain threads rather than tokio tasks: no
/// readiness polling or task hop per packet — DHCP is the one service whose
/// packet rate matters.
fn receive_loop(
    sock: std::net::UdpSocket,
    port: Port,
    shared: Arc<Mutex<Shared>>,
    tx: mpsc::Sender<Vec<Pending>>,
) -> std::io::Error {
    let mut batch = batch::RecvBatch::new(RECV_BATCH);
    let mut direct: Vec<(Vec<u8>, SocketAddrV4)> = Vec::new();
    let mut pending: Vec<Pending> = Vec::new();
    loop {
        match batch.recv(sock.as_fd()) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return e,
        }
        let now = unix_now();
        let events = {
            let Ok(mut g) = shared.lock() else {
                return std::io::Error::other("DHCP state lock poisoned");
            };
            let sh = &mut *g;
            if let Some(get) = &sh.inventory {
                let cur = get();
                if !Arc::ptr_eq(&cur, sh.dhcp.inventory()) {
                    sh.dhcp.set_inventory(cur);
                }
            }
            for (bytes, src) in batch.packets() {
                let out = sh.dhcp.handle(bytes, port, src, now);
                let reply = out.reply.map(|(b, d)| (b, d.socket_addr()));
                if out.persist.is_some() {
                    // Durable first, then the ACK (from the committer).
                    pending.push(Pending {
                        record: out.persist,
                        reply,
                    });
                } else if let Some(r) = reply {
                    direct.push(r);
                }
            }
            Arc::clone(&sh.dhcp.events)
        };
        if !pending.is_empty() && tx.send(std::mem::take(&mut pending)).is_err() {
            return std::io::Error::other("lease committer stopped");
        }
        if !direct.is_empty() {
            events
                .counters
                .replies
                .fetch_add(direct.len() as u64, std::sync::atomic::Ordering::Relaxed);
            batch::send_all(sock.as_fd(), &direct);
            direct.clear();
        }
    }
}

/// Serves DHCP on the bound 67/4011 sockets. Returns only if a socket
/// fails. `inventory`, when given, is asked per packet for the current
/// inventory (SIGHUP reloads); pool leases survive a swap.
async fn serve_dhcp(
    dhcp: Dhcp,
    journal: Option<Journal>,
    s67: Socket,
    s4011: Socket,
    inventory: Option<InventorySource>,
) -> std::io::Result<()> {
    let commit_sock: std::net::UdpSocket = s67.try_clone()?.into();
    commit_sock.set_nonblocking(false)?;
    let (tx, rx) = mpsc::channel::<Vec<Pending>>();
    let events = Arc::clone(&dhcp.events);
    std::thread::Builder::new()
        .name("dhcp-commit".into())
        .spawn(move || committer(journal, commit_sock, rx, events))?;
    let shared = Arc::new(Mutex::new(Shared { dhcp, inventory }));
    let (err_tx, mut err_rx) = tokio::sync::mpsc::unbounded_channel();
    for (sock, port, name) in [
        (s67, Port::Dhcp, "dhcp-67"),
        (s4011, Port::Pxe, "dhcp-4011"),
    ] {
        sock.set_nonblocking(false)?;
        let sock: std::net::UdpSocket = sock.into();
        let (shared, tx, err_tx) = (Arc::clone(&shared), tx.clone(), err_tx.clone());
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let _ = err_tx.send(receive_loop(sock, port, shared, tx));
            })?;
    }
    drop(err_tx);
    match err_rx.recv().await {
        Some(e) => Err(e),
        None => std::future::pending().await,
    }
}

/// DHCP, router advertisements and SNTP with every socket already bound,
/// so a taken port or a missing interface fails before anything serves.
pub struct Service {
    iface: String,
    dhcp: Option<(Dhcp, Option<Journal>, Socket, Socket)>,
    ra: Option<crate::config::RaConfig>,
    sntp: Option<std::net::UdpSocket>,
    inventory: Option<InventorySource>,
    pub events: Arc<Events>,
}

impl Service {
    /// Replays the lease file and binds: DHCP on 67/4011 of the serving
    /// interface (unless the mode is `off`), SNTP on the server address:123.
    /// Router advertisements open their raw socket in `run` and only warn
    /// when IPv6 is unavailable.
    pub fn bind(cfg: DhcpConfig, inv: Arc<Inventory>) -> Result<Service, IoError> {
        let iface = serving_interface(&cfg)?;
        let ra = cfg.ra.enabled.then(|| cfg.ra.clone());
        let sntp = if cfg.sntp {
            let addr = SocketAddr::new(IpAddr::V4(cfg.server), diskless_common::sntp::PORT);
            let s = std::net::UdpSocket::bind(addr).map_err(|source| IoError::Socket {
                what: "SNTP (123)",
                iface: iface.clone(),
                source,
            })?;
            Some(s)
        } else {
            None
        };
        let mode = cfg.mode;
        let (dhcp, journal) = prepare(cfg, inv)?;
        let events = Arc::clone(&dhcp.events);
        let dhcp = if mode == DhcpMode::Off {
            None
        } else {
            let s67 = udp_socket(&iface, SERVER_PORT, "DHCP (67)")?;
            let s4011 = udp_socket(&iface, PXE_PORT, "PXE (4011)")?;
            Some((dhcp, journal, s67, s4011))
        };
        Ok(Service {
            iface,
            dhcp,
            ra,
            sntp,
            inventory: None,
            events,
        })
    }

    /// Ask `get` for the current inventory on every packet (SIGHUP reload).
    pub fn with_inventory_source(
        mut self,
        get: impl Fn() -> Arc<Inventory> + Send + 'static,
    ) -> Self {
        self.inventory = Some(Box::new(get));
        self
    }

    pub fn interface(&self) -> &str {
        &self.iface
    }

    /// Serves until the future is dropped (or a socket fails).
    pub async fn run(self) -> Result<(), IoError> {
        let iface = self.iface;
        let sock_err = |what| {
            let iface = iface.clone();
            move |source| IoError::Socket {
                what,
                iface,
                source,
            }
        };
        let dhcp_fut = async {
            match self.dhcp {
                Some((dhcp, journal, s67, s4011)) => {
                    tracing::info!(%iface, mode = ?dhcp.config().mode, "DHCP listening on 67 and 4011");
                    serve_dhcp(dhcp, journal, s67, s4011, self.inventory)
                        .await
                        .map_err(sock_err("DHCP"))
                }
                None => std::future::pending().await,
            }
        };
        let ra_fut = async {
            if let Some(ra) = &self.ra {
                if let Err(e) = crate::ra::run(&iface, ra).await {
                    tracing::warn!(%iface, "router advertisements disabled: {e}");
                }
            }
            std::future::pending::<Result<(), IoError>>().await
        };
        let sntp_fut = async {
            if let Some(s) = self.sntp {
                s.set_nonblocking(true).map_err(sock_err("SNTP (123)"))?;
                let s = tokio::net::UdpSocket::from_std(s).map_err(sock_err("SNTP (123)"))?;
                tracing::info!(
                    "SNTP server listening on {}",
                    s.local_addr().map_err(sock_err("SNTP (123)"))?
                );
                crate::sntp::run_on(s)
                    .await
                    .map_err(sock_err("SNTP (123)"))?;
            }
            std::future::pending::<Result<(), IoError>>().await
        };
        tokio::try_join!(dhcp_fut, ra_fut, sntp_fut).map(|_| ())
    }
}
