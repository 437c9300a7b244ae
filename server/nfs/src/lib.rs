//! `diskless-nfs`: an NFSv3 server for diskless nodes' root and data
//! exports, with handles that survive a server restart.
//!
//! Layers: [`xdr`] (wire) → [`rpc`] (record marking, call/reply headers,
//! AUTH_SYS) → programs [`portmap`], [`mount`], [`nfs3`] over
//! [`export`] and [`handle`] → [`service`] (one record in, one reply out)
//! → [`io`] (tokio sockets).

pub mod dir_cache;
pub mod export;
pub mod handle;
pub mod handle_cache;
pub mod io;
pub mod mount;
pub mod nfs3;
pub mod open_files;
pub mod portmap;
pub mod reply_writer;
pub mod rpc;
pub mod rpcbind;
pub mod service;
pub mod xdr;

pub use export::ExportSpec;
pub use io::{serve, Listen, NfsServer};
pub use service::Service;
