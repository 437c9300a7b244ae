//! The benchmark's TFTP client: any number of simulated clients on ONE
//! socket, driven by one thread with `recvmmsg`/`sendmmsg` batches.
//!
//! Client `i` is the loopback address 127.1.x.y (every 127/8 address is
//! local in the namespace): the socket is bound to the wildcard, learns
//! from `IP_PKTINFO` which simulated client a datagram was sent to, and
//! sends each ACK from that client's address. Servers see `n` distinct
//! clients; the client side costs a few syscalls per batch, not two per
//! block, so it is not what limits the servers under test. In a storm a
//! thread drains its socket on a 100 µs timer instead of sleeping on it,
//! so the servers' DATA wakes nobody and batches grow (the same for every
//! server). Every block is compared with the expected file.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use diskless_tftp::mmsg::{self, RecvBatch, SendBatch};
use diskless_tftp::Bytes;

/// First simulated client address; client `i` is this + `i`.
const BASE: u32 = 0x7f01_0001; // 127.1.0.1

/// Retransmit after this long without a reply; give up after `RETRIES`.
const TIMEOUT: Duration = Duration::from_secs(1);
const RETRIES: u32 = 10;

struct Client {
    addr: Ipv4Addr,
    server: Option<SocketAddr>,
    blksize: usize,
    window: u16,
    next: u64,
    off: usize,
    since_ack: u16,
    last_ack: u16,
    last_rx: Instant,
    retries: u32,
    done: Option<f64>,
}

/// What one run measured.
pub struct Fetched {
    /// First request to last client done.
    pub wall: f64,
    /// Each client's time from the start to its last block.
    pub per_client: Vec<f64>,
}

fn rrq(name: &str, blksize: u16, window: u16) -> Vec<u8> {
    let mut v = vec![0, 1];
    v.extend_from_slice(name.as_bytes());
    v.push(0);
    v.extend_from_slice(b"octet\0");
    if blksize != 512 {
        v.extend_from_slice(format!("blksize\0{blksize}\0").as_bytes());
    }
    if window > 1 {
        v.extend_from_slice(format!("windowsize\0{window}\0").as_bytes());
    }
    v
}

fn ack(block: u16) -> [u8; 4] {
    let [hi, lo] = block.to_be_bytes();
    [0, 4, hi, lo]
}

/// With at least this many clients still fetching on a thread, it drains
/// its socket every [`COALESCE`] instead of waiting on it.
const COALESCE_FROM: usize = 16;
const COALESCE: Duration = Duration::from_micros(100);

/// Client threads: as many as the server under test may use, so the
/// client side keeps up on a shared machine; the same for every server.
const THREADS: usize = 2;

/// `n` clients fetch `name` from `server` at once (blksize, windowsize as
/// given; 512/1 means a plain RFC 1350 request) and must get `expect`.
pub fn fetch_all(
    server: SocketAddr,
    n: usize,
    name: &str,
    blksize: u16,
    window: u16,
    expect: &[u8],
) -> Result<Fetched> {
    let start = Instant::now();
    let threads = THREADS.min(n).max(1);
    // Threads inherit this thread's network namespace.
    let groups: Vec<Result<Vec<f64>>> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (first, count) = (n * t / threads, n * (t + 1) / threads - n * t / threads);
                sc.spawn(move || {
                    fetch_group(server, first, count, name, blksize, window, expect, start)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| bail!("client thread panicked")))
            .collect()
    });
    let mut per_client = Vec::with_capacity(n);
    for g in groups {
        per_client.extend(g?);
    }
    Ok(Fetched {
        wall: start.elapsed().as_secs_f64(),
        per_client,
    })
}

/// Clients `first .. first + n` on one socket and this thread.
#[allow(clippy::too_many_arguments)]
fn fetch_group(
    server: SocketAddr,
    first: usize,
    n: usize,
    name: &str,
    blksize: u16,
    window: u16,
    expect: &[u8],
    start: Instant,
) -> Result<Vec<f64>> {
    let sock = UdpSocket::bind("0.0.0.0:0")?;
    mmsg::enable_pktinfo(&sock)?;
    // ACKs are 4 bytes: DF spares the kernel its hashed IP-ID per ACK.
    mmsg::set_dont_fragment(&sock)?;
    mmsg::set_buffer(&sock, false, 16 << 20);
    mmsg::set_buffer(&sock, true, 4 << 20);
    let req = Bytes::from(rrq(name, blksize, window));
    let base = BASE + first as u32;
    let mut clients: Vec<Client> = (0..n)
        .map(|i| Client {
            addr: Ipv4Addr::from(base + i as u32),
            server: None,
            blksize: 512,
            window: 1,
            next: 1,
            off: 0,
            since_ack: 0,
            last_ack: 0,
            last_rx: start,
            retries: 0,
            done: None,
        })
        .collect();
    let mut out = SendBatch::new();
    for c in &clients {
        out.push(&server, Some(c.addr), &[], req.clone());
    }
    out.flush(&sock)?;
    // Slots just big enough for the requested block (a longer datagram
    // would arrive cut and fail the comparison): small slots keep a batch
    // in few pages.
    let mut rx = RecvBatch::new(512, usize::from(blksize.max(512)) + 8);
    let mut left = n;
    let mut last_sweep = start;
    while left > 0 {
        let ready = if left >= COALESCE_FROM {
            // Sleeping on a timer instead of the socket: the server's
            // DATA then wakes nobody (a cross-CPU wakeup per batch is a
            // large part of a UDP send's cost on a VM), and each drain
            // finds a bigger batch. Used for every server alike.
            std::thread::sleep(COALESCE);
            true
        } else {
            mmsg::poll_readable(&[std::os::fd::AsFd::as_fd(&sock)], 100)? != 0
        };
        let now = Instant::now();
        if ready {
            loop {
                let got = rx.recv(&sock)?;
                for i in 0..got {
                    let Some(d) = rx.get(i) else { continue };
                    let Some(to) = d.to else { continue };
                    let idx = u32::from(to).wrapping_sub(base) as usize;
                    let Some(c) = clients.get_mut(idx) else {
                        continue;
                    };
                    if c.done.is_some() {
                        continue;
                    }
                    if on_datagram(c, d.data, d.from, expect, &mut out, now, start)? {
                        left -= 1;
                    }
                }
                out.flush(&sock)?;
                if got < rx.capacity() {
                    break;
                }
            }
        }
        if now.duration_since(last_sweep) >= Duration::from_millis(100) {
            last_sweep = now;
            for c in clients.iter_mut().filter(|c| c.done.is_none()) {
                if now.duration_since(c.last_rx) < TIMEOUT {
                    continue;
                }
                c.retries += 1;
                if c.retries > RETRIES {
                    bail!(
                        "{name}: client {} timed out at block {} ({} of {n} clients done)",
                        c.addr,
                        c.next,
                        n - left
                    );
                }
                c.last_rx = now;
                match c.server {
                    None => out.push(&server, Some(c.addr), &[], req.clone()),
                    Some(s) => out.push(&s, Some(c.addr), &ack(c.last_ack), Bytes::new()),
                }
            }
            out.flush(&sock)?;
        }
    }
    Ok(clients.iter().filter_map(|c| c.done).collect())
}

/// One datagram for client `c`; returns whether it just finished.
fn on_datagram(
    c: &mut Client,
    p: &[u8],
    from: SocketAddr,
    expect: &[u8],
    out: &mut SendBatch,
    now: Instant,
    start: Instant,
) -> Result<bool> {
    if p.len() < 4 {
        return Ok(false);
    }
    match u16::from_be_bytes([p[0], p[1]]) {
        6 => {
            // OACK: take what was granted.
            c.server = Some(from);
            c.last_rx = now;
            let fields: Vec<&[u8]> = p[2..].split(|&b| b == 0).collect();
            for kv in fields.chunks(2) {
                if kv.len() < 2 {
                    break;
                }
                let k = String::from_utf8_lossy(kv[0]).to_ascii_lowercase();
                let v: usize = String::from_utf8_lossy(kv[1]).parse().unwrap_or(0);
                match k.as_str() {
                    "blksize" if v >= 8 => c.blksize = v,
                    "windowsize" if v >= 1 => c.window = v as u16,
                    _ => {}
                }
            }
            out.push(&from, Some(c.addr), &ack(0), Bytes::new());
        }
        3 => {
            // DATA without an OACK: the server ignored our options.
            let server = *c.server.get_or_insert(from);
            let block = u16::from_be_bytes([p[2], p[3]]);
            let data = &p[4..];
            if block == c.next as u16 {
                c.retries = 0;
                c.last_rx = now;
                if expect.get(c.off..c.off + data.len()) != Some(data) {
                    bail!("client {}: block {} differs from the file", c.addr, c.next);
                }
                c.off += data.len();
                c.next += 1;
                c.since_ack += 1;
                if data.len() < c.blksize {
                    out.push(&server, Some(c.addr), &ack(block), Bytes::new());
                    if c.off != expect.len() {
                        bail!(
                            "client {}: got {} bytes, expected {}",
                            c.addr,
                            c.off,
                            expect.len()
                        );
                    }
                    c.done = Some(now.duration_since(start).as_secs_f64());
                    return Ok(true);
                }
                if c.since_ack >= c.window {
                    c.last_ack = block;
                    c.since_ack = 0;
                    out.push(&server, Some(c.addr), &ack(block), Bytes::new());
                }
            } else if c.last_ack != (c.next - 1) as u16 {
                // A gap inside a window: ask again from the last good block.
                c.last_ack = (c.next - 1) as u16;
                c.since_ack = 0;
                out.push(&server, Some(c.addr), &ack(c.last_ack), Bytes::new());
            }
        }
        5 => bail!(
            "client {}: server error: {}",
            c.addr,
            String::from_utf8_lossy(&p[4..p.len().saturating_sub(1).max(4)])
        ),
        _ => {}
    }
    Ok(false)
}
