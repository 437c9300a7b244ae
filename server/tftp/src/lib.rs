//! TFTP server for boot files (read-only): RFC 1350 with options (RFC 2347),
//! blksize (2348), tsize/timeout (2349) and windowsize (7440).
//!
//! Layers, smoltcp-style: [`wire`] parses and emits packets; [`transfer`]
//! (with [`window`] and [`options`]) is the per-transfer state machine with
//! time passed in; [`sessions`] keys transfers by client TID and holds
//! their timers; [`io`] runs them all from one loop over batched sockets
//! ([`mmsg`]). [`names`], [`confine`],
//! [`cache`] and [`bootfiles`] turn a requested name into bytes, safely —
//! they are shared with the HTTP service.

pub mod bootfiles;
pub mod cache;
pub mod confine;
pub mod io;
pub mod mmsg;
pub mod names;
pub mod netascii;
pub mod options;
pub mod resolvers;
pub mod sessions;
pub mod transfer;
pub mod window;
pub mod wire;

pub use bootfiles::{BootFiles, ResolveError};
pub use io::{Resolver, Stats, TftpServer};
pub use options::Limits;

/// Shared byte buffers, as the [`mmsg`] batches take them.
pub use bytes::Bytes;
