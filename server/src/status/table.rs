//! `diskless-server status`: asks a running server for `GET /status` and
//! prints every node's stage as a table (or the JSON).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use super::{Stage, View};

#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  diskless-server status --inventory /etc/diskless/cluster.toml
  diskless-server status --url http://127.0.0.1:8080 --json

Stages, in boot order: dhcp (discover/offer/ack), loader (pxelinux.0, its
config, an iPXE script or EFI loader sent), kernel (kernel or initrd sent),
root mounted (NFS MOUNT of the root export), init up (diskless-init reported
its services up). Times are UTC. The server keeps status in memory: after
it restarts, nodes show '-' until they boot or report again.")]
pub struct Args {
    /// Inventory of the running server: its `server` address and
    /// `http_port` say where to ask.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/etc/diskless/cluster.toml"
    )]
    pub inventory: PathBuf,
    /// Ask this server instead (`http://HOST:PORT`); the inventory is not read.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Print the JSON (`node_status` of `GET /status`) instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let base = match &args.url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => {
            let inv = diskless_common::inventory::load_file(&args.inventory).map_err(|e| {
                anyhow::anyhow!(
                    "{e}\ncannot read the inventory {}: pass the server's with --inventory, or --url http://HOST:PORT",
                    args.inventory.display()
                )
            })?;
            format!("http://{}:{}", inv.cluster.server, inv.cluster.http_port)
        }
    };
    let body = get(&base, "/status")?;
    let json: serde_json::Value = serde_json::from_slice(&body)
        .with_context(|| format!("{base}/status did not answer JSON: is it a diskless-server?"))?;
    let Some(ns) = json.get("node_status") else {
        anyhow::bail!(
            "{base}/status has no node_status: the server is older than this client; upgrade it"
        );
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(ns)?);
        return Ok(ExitCode::SUCCESS);
    }
    let view: View = serde_json::from_value(ns.clone())
        .with_context(|| format!("{base}/status: unexpected node_status"))?;
    print!("{}", render(&view));
    Ok(ExitCode::SUCCESS)
}

/// `http://host:port` → (host, socket addresses).
fn parse_base(base: &str) -> anyhow::Result<(String, Vec<SocketAddr>)> {
    let rest = base
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("--url {base}: only http://HOST[:PORT] is supported"))?;
    let hostport = rest.split('/').next().unwrap_or(rest);
    let with_port = if hostport
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !hostport.ends_with(']')
    {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    let addrs: Vec<SocketAddr> = with_port
        .to_socket_addrs()
        .with_context(|| format!("--url {base}: cannot resolve {hostport}"))?
        .collect();
    Ok((hostport.to_string(), addrs))
}

/// A plain HTTP/1.0 GET with timeouts; the body of a 200 answer.
fn get(base: &str, path: &str) -> anyhow::Result<Vec<u8>> {
    let (host, addrs) = parse_base(base)?;
    let not_running = |why: String| {
        anyhow::anyhow!(
            "no diskless-server answers at {base} ({why}): start it (`diskless-server serve --inventory FILE`), \
             or say where it listens with --url http://HOST:PORT"
        )
    };
    let addr = addrs
        .first()
        .ok_or_else(|| not_running("no address".into()))?;
    let mut s = TcpStream::connect_timeout(addr, Duration::from_secs(3))
        .map_err(|e| not_running(e.to_string()))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| not_running(e.to_string()))?;
    let mut out = Vec::new();
    // Bounded: a status page of a 10,000-node cluster is a few MiB.
    s.take(64 << 20)
        .read_to_end(&mut out)
        .map_err(|e| not_running(e.to_string()))?;
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("{base}{path}: not an HTTP answer"))?;
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("200") {
        anyhow::bail!("{base}{path} answered `{status}`: is it a diskless-server?");
    }
    Ok(out[split + 4..].to_vec())
}

/// `HH:MM:SS` (UTC) of Unix milliseconds.
fn clock(ms: u64) -> String {
    let s = ms / 1000 % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn ago(now_ms: u64, at_ms: u64) -> String {
    let s = now_ms.saturating_sub(at_ms) / 1000;
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// The human table: one line per inventory node.
pub fn render(v: &View) -> String {
    let mut rows: Vec<Vec<String>> = vec![[
        "NODE", "IP", "STAGE", "AGO", "DHCP", "LOADER", "KERNEL", "ROOT", "INIT", "DETAIL",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()];
    for n in &v.nodes {
        let mut row = vec![n.name.clone(), n.ip.to_string()];
        match (n.stage, n.last_seen_ms.or(n.at_ms)) {
            (Some(s), Some(at)) => {
                row.push(s.label().into());
                row.push(ago(v.now_ms, at));
            }
            _ => {
                row.push("-".into());
                row.push("-".into());
            }
        }
        for s in Stage::ALL {
            row.push(n.stages.get(&s).map_or("-".into(), |h| clock(h.at_ms)));
        }
        let mut detail = n
            .stage
            .and_then(|s| n.stages.get(&s))
            .map_or(String::new(), |h| h.detail.clone());
        if n.stage == Some(Stage::Init) {
            if let Some(i) = &n.init {
                let t: Vec<String> = i
                    .timings_ms
                    .iter()
                    .map(|(k, v)| format!("{k} {v} ms"))
                    .collect();
                if !t.is_empty() {
                    detail.push_str(&format!(" ({})", t.join(", ")));
                }
            }
        }
        row.push(detail);
        rows.push(row);
    }
    let cols = rows[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                if c + 1 == cols {
                    cell.clone()
                } else {
                    format!("{cell:<w$}", w = widths[c])
                }
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str(&format!(
        "times UTC; server up since {} ({} ago); {} node{}\n",
        clock(v.server_started_ms),
        ago(v.now_ms, v.server_started_ms),
        v.nodes.len(),
        if v.nodes.len() == 1 { "" } else { "s" }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        let (h, a) = parse_base("http://127.0.0.1:8080").unwrap();
        assert_eq!(h, "127.0.0.1:8080");
        assert_eq!(a[0], "127.0.0.1:8080".parse().unwrap());
        let (_, a) = parse_base("http://127.0.0.1/").unwrap();
        assert_eq!(a[0].port(), 80);
        assert!(parse_base("https://x").is_err());
        assert!(parse_base("127.0.0.1:80").is_err());
    }

    #[test]
    fn clock_and_ago() {
        assert_eq!(clock(0), "00:00:00");
        assert_eq!(clock((13 * 3600 + 5 * 60 + 9) * 1000 + 999), "13:05:09");
        assert_eq!(ago(10_000, 7_000), "3s");
        assert_eq!(ago(1_000, 7_000), "0s");
        assert_eq!(ago(400_000, 0), "6m");
        assert_eq!(ago(3 * 86_400_000, 0), "3d");
    }
}
