//! Sockets: per TCP connection a reading task that answers several calls
//! at once on blocking threads (file IO never stalls the reactor) and a
//! writer thread ([`crate::reply_writer`]); per UDP socket a receiving
//! task; and the portmap decision (own port 111 or register with a
//! running rpcbind, [`crate::rpcbind`]).

use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdp};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::portmap;
use crate::reply_writer::{pad, BufPool, Outgoing, Sink};
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
    #[error(
        "port 111 is taken but the running rpcbind did not accept our registration: {0} \
         (stop it, or start with --no-portmap and give clients port= and mountport=)"
    )]
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
                    let (addr, port) = (listen.addr, listen.nfs_port);
                    tokio::task::spawn_blocking(move || crate::rpcbind::register(addr, port))
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

/// Calls of one connection answered at once. The reader waits for a free
/// slot before it reads the next record, so a flooding client is slowed,
/// not buffered.
const IN_FLIGHT: usize = 16;

/// Reads records (record marking, several fragments allowed) and answers
/// up to [`IN_FLIGHT`] of them at once; each answering thread sends its
/// own reply. A call that arrives while nothing else is in flight or
/// queued is answered in place (no thread hand-off: a client that waits
/// for each reply gets the shortest path). A record that is not an RPC
/// call, or an oversized one, ends the connection.
async fn connection(svc: Arc<Service>, s: TcpStream, peer: SocketAddr) -> Result<(), ConnError> {
    let sink = Arc::new(Sink::new(s.as_fd().try_clone_to_owned()?));
    let pool = Arc::new(BufPool::default());
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let multi = tokio::runtime::Handle::current().runtime_flavor()
        == tokio::runtime::RuntimeFlavor::MultiThread;
    let mut rd = BufReader::with_capacity(64 * 1024, s);
    let res = async {
        loop {
            let permit = slots.clone().acquire_owned().await.expect("never closed");
            let record = read_record(&mut rd, pool.take()).await?;
            let call = rpc::Call::parse(&record)?;
            let idle = slots.available_permits() == IN_FLIGHT - 1 && rd.buffer().is_empty();
            // Metadata, and a READ whose data is all in the page cache.
            let quick = !is_data_call(call.prog, call.proc_)
                || (call.proc_ == 6 && crate::nfs3::read_is_warm(&svc, &mut call.args.clone()));
            let (svc, sink, pool) = (svc.clone(), sink.clone(), pool.clone());
            let work = move || {
                let mut out = pool.take();
                out.extend_from_slice(&[0; 4]);
                let file = svc
                    .answer(peer.ip(), false, true, &record, &mut out)
                    .unwrap_or(None);
                pool.put(record);
                let len = out.len() - 4 + file.as_ref().map_or(0, |f| f.len + pad(f.len));
                out[..4].copy_from_slice(&(len as u32 | 1 << 31).to_be_bytes());
                let o = Outgoing {
                    buf: out,
                    file,
                    permit: Some(permit),
                };
                sink.send(&o);
                pool.put(o.buf);
            };
            if idle && quick {
                // Metadata syscalls on a local filesystem take microseconds:
                // cheaper right here than any hand-off to another thread.
                work();
            } else if idle && multi {
                tokio::task::block_in_place(work);
            } else {
                tokio::task::spawn_blocking(work);
            }
        }
    }
    .await;
    if let Err(ConnError::Frame(_)) = &res {
        // Garbage: close now, without the replies still in flight.
        // SAFETY: plain shutdown(2) on the connection's socket.
        unsafe { libc::shutdown(rd.get_ref().as_raw_fd(), libc::SHUT_RDWR) };
    }
    res
}

/// READ, WRITE and COMMIT may wait for the disk: never on the reactor.
fn is_data_call(prog: u32, proc_: u32) -> bool {
    prog == crate::nfs3::PROGRAM && matches!(proc_, 6 | 7 | 21)
}

/// One record; its buffer comes from the pool and is filled without
/// zeroing first.
async fn read_record(
    rd: &mut BufReader<TcpStream>,
    mut record: Vec<u8>,
) -> Result<Vec<u8>, ConnError> {
    record.clear();
    loop {
        let mut hdr = [0u8; 4];
        rd.read_exact(&mut hdr).await?;
        let (last, len) = rpc::fragment_header(hdr);
        rpc::check_growth(record.len(), len)?;
        let want = record.len() + len;
        record.reserve(len);
        let mut part = (&mut *rd).take(len as u64);
        while record.len() < want {
            if part.read_buf(&mut record).await? == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
        }
        if last {
            return Ok(record);
        }
    }
}

/// Datagrams are answered concurrently too (bounded); replies go out
/// through a second handle on the same socket.
async fn udp_loop(svc: Arc<Service>, sock: UdpSocket) {
    let sender = match sock.as_fd().try_clone_to_owned() {
        Ok(fd) => Arc::new(StdUdp::from(fd)),
        Err(e) => {
            tracing::warn!("UDP: cannot share the socket: {e}");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut buf = vec![0u8; 65536];
    loop {
        let permit = slots.clone().acquire_owned().await.expect("never closed");
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!("UDP receive failed: {e}");
                continue;
            }
        };
        let dgram = buf[..n].to_vec();
        let (svc, sender) = (svc.clone(), sender.clone());
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            match svc.handle(peer.ip(), true, &dgram, &mut out) {
                // A full send buffer drops the reply; the client retransmits.
                Ok(()) => {
                    let _ = sender.send_to(&out, peer);
                }
                Err(e) => tracing::debug!(%peer, "dropped UDP datagram: {e}"),
            }
            drop(permit);
        });
    }
}
