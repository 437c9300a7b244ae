//! Sockets: one tokio task per TCP connection (records in order, answered
//! on a blocking thread so file IO never stalls the reactor), one task per
//! UDP socket, and the portmap decision (own port 111 or register with a
//! running rpcbind).

use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdp};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinSet;

use crate::portmap::{self, own_mappings};
use crate::rpc::{self, FrameError};
use crate::service::Service;

/// Where to listen.
#[derive(Debug, Clone)]
pub struct Listen {
    pub addr: IpAddr,
    /// NFS and MOUNT, TCP and UDP (2049).
    pub nfs_port: u16,
    /// Serve portmap on 111 ourselves, or register with the system rpcbind
    /// when 111 is taken. `false` = neither (tests give clients the port).
    pub portmap: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum IoError {
    #[error(
        "cannot listen on {addr}: {source}: is another NFS server (nfs-ganesha, knfsd) running?"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("port 111 is taken but rpcbind at 127.0.0.1:111 did not accept our registration: {0}")]
    Register(String),
}

/// Bound sockets, ready to serve.
pub struct NfsServer {
    tasks: JoinSet<()>,
}

impl NfsServer {
    /// Binds every socket (NFS/MOUNT on `nfs_port`, portmap on 111 or a
    /// registration with the running rpcbind) so errors surface before
    /// anything is served.
    pub async fn bind(svc: Arc<Service>, listen: Listen) -> Result<NfsServer, IoError> {
        let mut tasks = JoinSet::new();
        bind_pair(
            &mut tasks,
            &svc,
            SocketAddr::new(listen.addr, listen.nfs_port),
        )
        .await?;
        if listen.portmap {
            let pm = SocketAddr::new(listen.addr, portmap::PORT);
            match bind_pair(&mut tasks, &svc, pm).await {
                Ok(()) => tracing::info!(%pm, "nfs: serving portmap"),
                Err(IoError::Bind { source, .. })
                    if source.kind() == std::io::ErrorKind::AddrInUse =>
                {
                    let port = listen.nfs_port;
                    tokio::task::spawn_blocking(move || register(port))
                        .await
                        .map_err(|e| IoError::Register(e.to_string()))??;
                    tracing::info!("nfs: registered NFS and MOUNT with the running rpcbind");
                }
                Err(e) => return Err(e),
            }
        }
        tracing::info!(addr = %listen.addr, port = listen.nfs_port, "nfs: serving NFSv3 and MOUNT v3");
        Ok(NfsServer { tasks })
    }

    /// Serves until `stop` completes; then every socket is closed.
    pub async fn run(mut self, stop: impl std::future::Future<Output = ()>) {
        tokio::select! {
            _ = stop => {}
            _ = async { while self.tasks.join_next().await.is_some() {} } => {}
        }
        self.tasks.abort_all();
    }
}

/// Binds and serves forever.
pub async fn serve(svc: Arc<Service>, listen: Listen) -> Result<(), IoError> {
    NfsServer::bind(svc, listen)
        .await?
        .run(std::future::pending())
        .await;
    Ok(())
}

async fn bind_pair(
    tasks: &mut JoinSet<()>,
    svc: &Arc<Service>,
    addr: SocketAddr,
) -> Result<(), IoError> {
    let err = |source| IoError::Bind { addr, source };
    let tcp = TcpListener::bind(addr).await.map_err(err)?;
    let udp = UdpSocket::bind(addr).await.map_err(err)?;
    tasks.spawn(accept_loop(svc.clone(), tcp));
    tasks.spawn(udp_loop(svc.clone(), udp));
    Ok(())
}

async fn accept_loop(svc: Arc<Service>, listener: TcpListener) {
    // Connections live in this set, so stopping the server ends them too.
    let mut conns = JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let svc = svc.clone();
                conns.spawn(async move {
                    if let Err(e) = connection(svc, stream, peer).await {
                        tracing::debug!(%peer, "NFS connection closed: {e}");
                    }
                });
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// Reads records (record marking, several fragments allowed), answers each
/// in order. A bad record or an oversized fragment ends the connection.
async fn connection(
    svc: Arc<Service>,
    mut s: TcpStream,
    peer: SocketAddr,
) -> Result<(), ConnError> {
    let mut record = Vec::new();
    let mut out = Vec::new();
    loop {
        record.clear();
        loop {
            let mut hdr = [0u8; 4];
            s.read_exact(&mut hdr).await?;
            let (last, len) = rpc::fragment_header(hdr);
            rpc::check_growth(record.len(), len)?;
            let at = record.len();
            record.resize(at + len, 0);
            s.read_exact(&mut record[at..]).await?;
            if last {
                break;
            }
        }
        let (rec, mut reply, res) = answer(&svc, peer.ip(), record, out).await?;
        record = rec;
        res?;
        let len = (reply.len() - 4) as u32 | 1 << 31;
        reply[..4].copy_from_slice(&len.to_be_bytes());
        s.write_all(&reply).await?;
        out = reply;
    }
}

/// Answers one record off the reactor: in place on a multi-threaded
/// runtime (no thread hand-off per call), else on the blocking pool.
async fn answer(
    svc: &Arc<Service>,
    peer: IpAddr,
    record: Vec<u8>,
    mut out: Vec<u8>,
) -> std::io::Result<(Vec<u8>, Vec<u8>, Result<(), FrameError>)> {
    let work = move |svc: &Service, record: Vec<u8>, mut out: Vec<u8>| {
        out.clear();
        out.extend_from_slice(&[0; 4]);
        let res = svc.handle(peer, false, &record, &mut out);
        (record, out, res)
    };
    use tokio::runtime::{Handle, RuntimeFlavor};
    if Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread {
        Ok(tokio::task::block_in_place(|| work(svc, record, out)))
    } else {
        let svc = svc.clone();
        out.clear();
        tokio::task::spawn_blocking(move || work(&svc, record, out))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

async fn udp_loop(svc: Arc<Service>, sock: UdpSocket) {
    let sock = Arc::new(sock);
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!("UDP receive failed: {e}");
                continue;
            }
        };
        let svc2 = svc.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let res = svc2.handle(peer.ip(), true, &buf[..n], &mut out);
            (buf, out, res)
        })
        .await;
        let Ok((b, out, res)) = joined else {
            buf = vec![0u8; 65536];
            continue;
        };
        buf = b;
        match res {
            Ok(()) => {
                let _ = sock.send_to(&out, peer).await;
            }
            Err(e) => tracing::debug!(%peer, "dropped UDP datagram: {e}"),
        }
    }
}

/// Registers our programs with the rpcbind at 127.0.0.1:111 (portmap v2
/// SET over UDP), replacing stale entries from an earlier run.
pub fn register(nfs_port: u16) -> Result<(), IoError> {
    let e = |x: std::io::Error| IoError::Register(x.to_string());
    let sock = StdUdp::bind("127.0.0.1:0").map_err(e)?;
    sock.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(e)?;
    sock.connect("127.0.0.1:111").map_err(e)?;
    let mut buf = [0u8; 512];
    let mut xid = std::process::id() << 8;
    for m in own_mappings(nfs_port)
        .into_iter()
        .filter(|m| m.0 != portmap::PROGRAM)
    {
        for set in [false, true] {
            xid = xid.wrapping_add(1);
            sock.send(&portmap::registration_call(xid, m, set))
                .map_err(e)?;
            let n = sock.recv(&mut buf).map_err(e)?;
            // Accepted reply with a boolean result: the last word.
            if set && (n < 28 || buf[n - 1] != 1) {
                return Err(IoError::Register(format!("rpcbind refused mapping {m:?}")));
            }
        }
    }
    Ok(())
}
