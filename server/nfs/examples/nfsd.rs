//! Minimal standalone server for manual tests:
//! `cargo run -p diskless-nfs --example nfsd -- PORT KEYFILE PATH:ro|rw:IP[,IP…]…`
use std::sync::Arc;

use diskless_nfs::{ExportSpec, Listen, Service};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port: u16 = args[0].parse().expect("port");
    let specs: Vec<ExportSpec> = args[2..]
        .iter()
        .map(|a| {
            let mut p = a.split(':');
            let path = p.next().expect("path").into();
            let rw = p.next() == Some("rw");
            let ips = p
                .next()
                .unwrap_or("127.0.0.1")
                .split(',')
                .map(|i| i.parse().expect("ip"))
                .collect();
            ExportSpec {
                path,
                writable: rw,
                root: !rw,
                allowed: ips,
            }
        })
        .collect();
    let svc = Service::new(&specs, args[1].as_ref(), port).expect("service");
    let listen = Listen {
        addr: "127.0.0.1".parse().unwrap(),
        nfs_port: port,
        portmap: false,
    };
    diskless_nfs::serve(Arc::new(svc), listen)
        .await
        .expect("serve");
}
