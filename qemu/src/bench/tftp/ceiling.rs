//! The storm's CPU-bound ceiling: the best rate each server's measured CPU
//! per block allows on this machine, so a ratio can be read against what
//! the shared CPUs permit.

use super::Args;

pub(super) struct Storm {
    pub(super) aggregate_mbs: f64,
    pub(super) slowest_s: f64,
    /// Server CPU (user + system) per DATA block: what the server costs,
    /// independent of how busy the shared machine was.
    pub(super) cpu_us_per_block: f64,
    /// The same for the benchmark's client (identical for every server).
    pub(super) client_us_per_block: f64,
}

pub(super) fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Threads that carry a server's storm work: dnsmasq is single-threaded,
/// atftpd runs a thread per client, ours one per event loop.
pub(super) fn server_threads(which: &str, args: &Args) -> usize {
    match which {
        "dnsmasq" => 1,
        "ours" => match args.tftp_loops.unwrap_or(0) {
            0 => (cpus() / 2).clamp(1, 4),
            n => usize::from(n),
        },
        _ => cpus(),
    }
    .min(cpus())
}

/// The storm rate (MB/s) the measured CPU per block allows: the server's
/// threads can be busy at most all the time, and server plus client
/// share the machine's CPUs (on loopback both ends' kernel work is local).
pub(super) fn ceiling_mbs(s: &Storm, threads: usize, cpus: usize) -> f64 {
    let per_us = (threads as f64 / s.cpu_us_per_block)
        .min(cpus as f64 / (s.cpu_us_per_block + s.client_us_per_block));
    per_us * 1468.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storm(server: f64, client: f64) -> Storm {
        Storm {
            aggregate_mbs: 0.0,
            slowest_s: 0.0,
            cpu_us_per_block: server,
            client_us_per_block: client,
        }
    }

    #[test]
    fn ceiling_is_the_tighter_of_server_threads_and_shared_cpus() {
        // Session 3's quiet figures on 2 CPUs: ours (one loop) is bound
        // by the CPUs it shares with the client, dnsmasq by its one thread.
        let ours = ceiling_mbs(&storm(4.2, 5.0), 1, 2);
        let dnsmasq = ceiling_mbs(&storm(8.9, 6.6), 1, 2);
        let atftpd = ceiling_mbs(&storm(13.8, 9.4), 2, 2);
        assert!((ours - 2.0 / 9.2 * 1468.0).abs() < 1e-6);
        assert!((dnsmasq - 1468.0 / 8.9).abs() < 1e-6);
        assert!((atftpd - 2.0 / 23.2 * 1468.0).abs() < 1e-6);
        assert!(ours / dnsmasq < 3.0 && ours / atftpd < 3.0);
    }
}
