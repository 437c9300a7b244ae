//! TFTP server for boot files (read-only): RFC 1350 with options (RFC 2347),
//! blksize (2348), tsize/timeout (2349) and windowsize (7440).
//!
//! Layers, smoltcp-style: [`wire`] parses and emits packets; [`transfer`]
//! (with [`window`] and [`options`]) is the per-transfer state machine with
//! time passed in; [`sessions`] keys transfers by client TID and holds
//! their timers; [`server`] binds the sockets and runs a few event loops,
//! each driving many transfers over batched sockets ([`mmsg`]). [`names`], [`confine`],
//! [`cache`] and [`bootfiles`] turn a requested name into bytes, safely —
//! they are shared with the HTTP service.

pub mod bootfiles;
pub mod cache;
pub mod confine;
mod event_loop;
pub mod mmsg;
pub mod names;
pub mod netascii;
pub mod options;
pub mod resolvers;
pub mod server;
pub mod sessions;
pub mod transfer;
pub mod window;
pub mod wire;

pub use bootfiles::{BootFiles, ResolveError};
pub use options::Limits;
pub use server::{Resolver, Stats, TftpServer};

/// Shared byte buffers, as the [`mmsg`] batches take them.
pub use bytes::Bytes;
