//! Batched UDP: `recvmmsg`/`sendmmsg` so one system call moves many
//! datagrams. A boot storm is hundreds of lockstep transfers, each a
//! 4-byte ACK in and one DATA out; per-datagram syscalls (and the wakeups
//! between them) were most of the server's cost.
//!
//! Optional `IP_PKTINFO`: a receive reports the address a datagram was
//! sent *to*, a send can choose its source address. The benchmark client
//! uses that to simulate hundreds of clients (one loopback address each)
//! on a single socket.
//!
//! The only `unsafe` in the crate lives in this module: raw `mmsghdr`
//! arrays whose pointers refer to buffers owned by the same struct (heap
//! storage that never reallocates after construction).
//!
//! Parts: [`recv`] and [`send`] hold the batches, [`raw`] the address and
//! control-message conversions, [`sockopt`] socket options and waits.

mod raw;
mod recv;
mod send;
mod sockopt;

pub use raw::{from_raw, to_raw};
pub use recv::{Datagram, RecvBatch};
pub use send::SendBatch;
pub use sockopt::{enable_pktinfo, poll_readable, set_buffer, set_dont_fragment, wait_writable};

/// Room for one `in_pktinfo` control message, 8-byte aligned.
type Ctrl = [u64; 8];

/// Most datagrams per syscall (the kernel's UIO_MAXIOV cap on `vlen`).
const MAX_VLEN: usize = 1024;

#[cfg(test)]
mod tests;
