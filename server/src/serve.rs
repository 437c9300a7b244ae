//! `diskless-server serve`: every service in one foreground process.
//!
//! Startup binds every socket first (so a taken port fails before anything
//! serves), then tells systemd READY=1. SIGTERM/SIGINT stop cleanly; SIGHUP
//! reloads the inventory and keeps the old one if the new one is invalid.
//!
//! Adding a service (DHCP, NFS, time): bind its sockets in `serve` next to
//! the TFTP/HTTP blocks, then `services.spawn("name", fut)` where `fut`
//! reads `shared.inventory.load()` per request and returns when its
//! `services.shutdown()` receiver changes.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use diskless_common::inventory::Inventory;
use diskless_tftp::{BootFiles, Limits, TftpServer};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::generated::{BootResolver, Shared};
use crate::http::{self, HttpState};
use crate::status::{listener, Status, StatusResolver};

#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  diskless-server serve --inventory /etc/diskless/cluster.toml
  diskless-server serve --inventory cluster.toml --boot-root ./boot \\
      --listen 127.0.0.1 --tftp-port 6969 --http-port 8080

Signals: SIGTERM/SIGINT stop; SIGHUP reloads the inventory (an invalid one
is refused with its errors and the old one keeps serving).")]
pub struct Args {
    /// Cluster inventory (TOML).
    #[arg(long, value_name = "FILE")]
    pub inventory: PathBuf,
    /// Boot-file root served over TFTP and HTTP [default: the inventory's
    /// `boot_root`].
    #[arg(long, value_name = "DIR")]
    pub boot_root: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0")]
    pub listen: IpAddr,
    /// TFTP port [default: the inventory's, normally 69].
    #[arg(long, value_name = "PORT")]
    pub tftp_port: Option<u16>,
    /// HTTP port [default: the inventory's, normally 80].
    #[arg(long, value_name = "PORT")]
    pub http_port: Option<u16>,
    /// Do not start the TFTP service.
    #[arg(long)]
    pub no_tftp: bool,
    /// Do not start the HTTP service.
    #[arg(long)]
    pub no_http: bool,
    /// Largest TFTP windowsize granted (RFC 7440).
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub tftp_max_window: u16,
    /// TFTP retransmissions before a silent client's transfer is dropped.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub tftp_retries: u32,
    /// TFTP retransmit timeout when the client does not negotiate one, in
    /// milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub tftp_timeout_ms: u64,
    /// TFTP event loops: threads, each driving many transfers over a data
    /// socket of its own. 0 means one per two CPUs (at least 1, at most
    /// 4); 1 keeps TFTP on a single core.
    #[arg(long, value_name = "N", default_value_t = 0,
          value_parser = clap::value_parser!(u16).range(0..=64))]
    pub tftp_loops: u16,
    /// Memory for cached boot files, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    pub cache_mib: u64,
    /// Do not start the NFS service (portmap, MOUNT, NFSv3).
    #[arg(long)]
    pub no_nfs: bool,
    /// NFS and MOUNT port (TCP and UDP).
    #[arg(long, value_name = "PORT", default_value_t = 2049)]
    pub nfs_port: u16,
    /// Neither serve portmap on 111 nor register with a running rpcbind
    /// (clients must be told the port, e.g. `nfsroot=…,port=2049,mountport=2049`).
    #[arg(long)]
    pub no_portmap: bool,
    /// Key that authenticates NFS file handles; created (0600) at first
    /// start. Keep it: a new key makes every client's handles stale.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/var/lib/diskless/nfs-handle.key"
    )]
    pub nfs_key: PathBuf,
    /// Do not start DHCP, router advertisements or SNTP.
    #[arg(long)]
    pub no_dhcp: bool,
    /// Journal of pool leases (only used when the inventory has a
    /// `dhcp_pool` or a relay subnet with a `pool`) [default: the
    /// inventory's `lease_file`, else /var/lib/diskless/dhcp.leases].
    #[arg(long, value_name = "FILE")]
    pub lease_file: Option<PathBuf>,
    /// Where the per-node status (`diskless-server status`) is saved, so it
    /// survives a restart [default: status.json beside the lease file].
    #[arg(long, value_name = "FILE")]
    pub status_file: Option<PathBuf>,
}

/// `--status-file`, else `status.json` in the lease file's directory.
fn status_file(args: &Args, inv: &Inventory) -> PathBuf {
    if let Some(p) = &args.status_file {
        return p.clone();
    }
    let lease = args
        .lease_file
        .clone()
        .or_else(|| inv.cluster.lease_file.clone())
        .unwrap_or_else(|| PathBuf::from("/var/lib/diskless/dhcp.leases"));
    lease
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join("status.json")
}

/// The running services; each returns when `shutdown` turns true.
pub struct Services {
    set: JoinSet<(&'static str, anyhow::Result<()>)>,
    shutdown: watch::Receiver<bool>,
}

impl Services {
    pub fn shutdown(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }

    pub fn spawn<F>(&mut self, name: &'static str, fut: F)
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        self.set.spawn(async move { (name, fut.await) });
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DISKLESS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(serve(args))
}

fn load_inventory(path: &Path) -> anyhow::Result<Inventory> {
    diskless_common::inventory::load_file(path).map_err(|e| {
        anyhow::anyhow!(
            "{e}\nfix the inventory (check it with `diskless-server check {}`)",
            path.display()
        )
    })
}

/// Turns a bind error into one line that says what to do.
fn bind_error(e: std::io::Error, what: &str, addr: SocketAddr, flag: &str) -> anyhow::Error {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => anyhow::anyhow!(
            "{what} port {} on {} is already taken (another {what} server running? \
             stop it, or pick another port with {flag})",
            addr.port(),
            addr.ip()
        ),
        std::io::ErrorKind::PermissionDenied => anyhow::anyhow!(
            "{what} port {} needs root or CAP_NET_BIND_SERVICE (or use {flag} with a port >= 1024)",
            addr.port()
        ),
        std::io::ErrorKind::AddrNotAvailable => anyhow::anyhow!(
            "{} is not an address of this machine: fix --listen or the inventory",
            addr.ip()
        ),
        _ => anyhow::anyhow!("cannot bind {what} on {addr}: {e}"),
    }
}

fn http_base(inv: &Inventory, port: u16) -> String {
    if port == 80 {
        format!("http://{}", inv.cluster.server)
    } else {
        format!("http://{}:{port}", inv.cluster.server)
    }
}

async fn serve(args: Args) -> anyhow::Result<ExitCode> {
    let inv = load_inventory(&args.inventory)?;
    let root = args
        .boot_root
        .clone()
        .unwrap_or_else(|| inv.cluster.boot_root.clone());
    let files = BootFiles::open(&root, args.cache_mib << 20)
        .with_context(|| {
            format!(
                "cannot open the boot root {}: create it or pass --boot-root DIR",
                root.display()
            )
        })?
        .with_alias(&inv.cluster.boot_root);
    let tftp_port = args.tftp_port.unwrap_or(inv.cluster.tftp_port);
    let http_port = args.http_port.unwrap_or(inv.cluster.http_port);
    let shared = Arc::new(Shared {
        http_base: ArcSwap::from_pointee(http_base(&inv, http_port)),
        inventory: ArcSwap::from_pointee(inv),
        files: ArcSwap::from_pointee(files),
    });
    let status_path = status_file(&args, &shared.inventory.load());
    let restored = crate::status::store::load(&status_path).unwrap_or_else(|e| {
        warn!("status: {e}; starting with no node history");
        Default::default()
    });
    let status = Arc::new(Status::new(shared.clone()).with_restored(restored));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut services = Services {
        set: JoinSet::new(),
        shutdown: stop_rx,
    };

    // TFTP
    let mut tftp_stats = None;
    if !args.no_tftp {
        let addr = SocketAddr::new(args.listen, tftp_port);
        let limits = Limits {
            max_window: args.tftp_max_window.max(1),
            retries: args.tftp_retries,
            default_timeout: Duration::from_millis(args.tftp_timeout_ms.max(1)),
            loops: usize::from(args.tftp_loops),
            ..Limits::default()
        };
        let resolver = Arc::new(StatusResolver {
            inner: BootResolver {
                shared: shared.clone(),
            },
            status: status.clone(),
        });
        let server = TftpServer::bind(addr, resolver, limits)
            .await
            .map_err(|e| bind_error(e, "TFTP", addr, "--tftp-port"))?;
        info!("tftp: listening on {}", server.local_addr()?);
        tftp_stats = Some(server.stats());
        let stop = services.shutdown();
        services.spawn(
            "tftp",
            async move { Ok(server.run_on_own_thread(stop).await?) },
        );
    }

    // HTTP
    if !args.no_http {
        let addr = SocketAddr::new(args.listen, http_port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| bind_error(e, "HTTP", addr, "--http-port"))?;
        info!("http: listening on {}", listener.local_addr()?);
        let state = Arc::new(HttpState {
            resolver: BootResolver {
                shared: shared.clone(),
            },
            tftp: tftp_stats.clone(),
            status: status.clone(),
        });
        // init's reports: UDP on the HTTP port number (best effort).
        let udp = SocketAddr::new(args.listen, listener.local_addr()?.port());
        match tokio::net::UdpSocket::bind(udp).await {
            Ok(sock) => {
                let stop = services.shutdown();
                services.spawn("status", listener::run(sock, status.clone(), stop));
            }
            Err(e) => warn!("status: init reports not received: cannot bind UDP {udp}: {e}"),
        }
        let stop = services.shutdown();
        services.spawn("http", http::run(listener, state, stop));
    }

    // NFS (SIGHUP reloads the exports with the inventory)
    let mut nfs_service = None;
    if !args.no_nfs {
        let inv = shared.inventory.load();
        let specs = diskless_nfs::ExportSpec::from_inventory(&inv);
        let mut svc = diskless_nfs::Service::new(&specs, &args.nfs_key, args.nfs_port)
            .context("nfs: cannot start")?;
        let st = status.clone();
        svc.on_mount = Some(Box::new(move |ip, path| {
            st.mounted(ip, path, crate::status::now_ms())
        }));
        let listen = diskless_nfs::Listen {
            addr: args.listen,
            nfs_port: args.nfs_port,
            portmap: !args.no_portmap,
        };
        let svc = Arc::new(svc);
        nfs_service = Some(svc.clone());
        let server = diskless_nfs::NfsServer::bind(svc, listen)
            .await
            .context("nfs: cannot start (or use --nfs-port / --no-nfs)")?;
        let mut stop = services.shutdown();
        services.spawn("nfs", async move {
            server
                .run(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
            Ok(())
        });
    }

    // DHCP (+ proxyDHCP on 4011), IPv6 router advertisements, SNTP
    if !args.no_dhcp {
        let inv = shared.inventory.load_full();
        let mut cfg = diskless_dhcp::DhcpConfig::from_inventory(&inv);
        cfg.ipxe_url = format!("{}/boot.ipxe?mac={{mac}}", http_base(&inv, http_port));
        if let Some(p) = &args.lease_file {
            cfg.lease_file = Some(p.clone());
        }
        match diskless_dhcp::io::Service::bind(cfg, inv) {
            // Not on the boot segment (e.g. serving files on loopback):
            // the other services still run.
            Err(e @ diskless_dhcp::io::IoError::NoInterface(_)) => {
                warn!("dhcp: not started: {e}")
            }
            Err(e) => anyhow::bail!("dhcp: {e} (or start with --no-dhcp)"),
            Ok(svc) => {
                let shared_inv = shared.clone();
                let svc = svc.with_inventory_source(move || shared_inv.inventory.load_full());
                status.attach_dhcp(svc.events.clone());
                let mut stop = services.shutdown();
                services.spawn("dhcp", async move {
                    tokio::select! {
                        r = svc.run() => r.map_err(Into::into),
                        _ = stop.wait_for(|s| *s) => Ok(()),
                    }
                });
            }
        }
    }

    // The status view, saved so it survives a restart.
    services.spawn(
        "status-file",
        crate::status::store::keep_saved(
            status.clone(),
            status_path,
            Duration::from_secs(2),
            services.shutdown(),
        ),
    );

    // Further services bind and spawn here.

    if let Err(e) = crate::notify::notify("READY=1") {
        warn!("could not notify systemd: {e}");
    }
    info!(
        "ready: serving {} from {}",
        shared.inventory.load().cluster.name,
        shared.files.load().root_path().display()
    );

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let code = loop {
        tokio::select! {
            _ = term.recv() => { info!("SIGTERM: stopping"); break ExitCode::SUCCESS; }
            _ = int.recv() => { info!("SIGINT: stopping"); break ExitCode::SUCCESS; }
            _ = hup.recv() => reload(&args, &shared, nfs_service.as_deref()),
            Some(done) = services.set.join_next() => {
                match done {
                    Ok((name, Ok(()))) => error!("{name} stopped unexpectedly"),
                    Ok((name, Err(e))) => error!("{name} failed: {e:#}"),
                    Err(e) => error!("a service panicked: {e}"),
                }
                break ExitCode::FAILURE;
            }
        }
    };
    let _ = crate::notify::notify("STOPPING=1");
    let _ = stop_tx.send(true);
    let drain = async { while services.set.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(5), drain)
        .await
        .is_err()
    {
        warn!("services did not stop within 5 s; exiting anyway");
    }
    Ok(code)
}

/// SIGHUP: swap in a new inventory (and, when its `boot_root` changed, the
/// boot root unless `--boot-root` overrides it, and the name prefix clients
/// may use for it). On any error the running configuration stays.
fn reload(args: &Args, shared: &Shared, nfs: Option<&diskless_nfs::Service>) {
    let inv = match load_inventory(&args.inventory) {
        Ok(i) => i,
        Err(e) => {
            error!("SIGHUP: reload refused, still serving the previous inventory:\n{e:#}");
            return;
        }
    };
    // Opened before anything changes; served only if the rest succeeds.
    let exports = match nfs
        .map(|n| n.prepare_exports(&diskless_nfs::ExportSpec::from_inventory(&inv)))
        .transpose()
    {
        Ok(t) => t,
        Err(e) => {
            error!("SIGHUP: reload refused, NFS exports unchanged: {e}");
            return;
        }
    };
    let old = shared.inventory.load();
    if inv.cluster.boot_root != old.cluster.boot_root {
        // The files come from --boot-root if given, else the inventory's
        // root; either way clients may now name files under the new
        // inventory `boot_root`, so that is the prefix to strip.
        let dir = args
            .boot_root
            .clone()
            .unwrap_or_else(|| inv.cluster.boot_root.clone());
        match BootFiles::open(&dir, args.cache_mib << 20)
            .map(|f| f.with_alias(&inv.cluster.boot_root))
        {
            Ok(f) => shared.files.store(Arc::new(f)),
            Err(e) => {
                error!(
                    "SIGHUP: reload refused, cannot open boot root {}: {e}",
                    dir.display()
                );
                return;
            }
        }
    }
    if inv.cluster.tftp_port != old.cluster.tftp_port
        || inv.cluster.http_port != old.cluster.http_port
    {
        warn!("SIGHUP: port changes take effect after a restart");
    }
    let http_port = args.http_port.unwrap_or(old.cluster.http_port);
    shared.http_base.store(Arc::new(http_base(&inv, http_port)));
    if let (Some(n), Some(t)) = (nfs, exports) {
        n.set_exports(t);
    }
    info!("SIGHUP: inventory reloaded ({} nodes)", inv.nodes.len());
    shared.inventory.store(Arc::new(inv));
}
