//! HTTP for iPXE: the same boot-file tree and generated files as TFTP,
//! single byte ranges, `Content-Length`, and `GET /status` (JSON: counters
//! and every node's boot stage, see `status.rs`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use diskless_tftp::{names, ResolveError, Stats};
use hyper::header::{
    HeaderValue, ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE,
};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{debug, info, warn};

mod sending;

use sending::Sending;

use crate::generated::BootResolver;
use crate::status::{self as node_status, Status};

pub struct HttpState {
    pub resolver: BootResolver,
    pub tftp: Option<Arc<Stats>>,
    /// Per-node stages (`node_status` in `GET /status`).
    pub status: Arc<Status>,
}

/// Accepts connections until `shutdown` turns true.
pub async fn run(
    listener: TcpListener,
    state: Arc<HttpState>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(v) => v,
                Err(e) => { warn!("http accept: {e}"); continue; }
            },
            _ = shutdown.changed() => return Ok(()),
        };
        let state = state.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| handle(req, peer, state.clone()));
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            if let Err(e) = conn.await {
                debug!(client = %peer, "http connection: {e}");
            }
        });
    }
}

type Resp = Response<Sending>;

fn simple(status: StatusCode, text: &str) -> Resp {
    let mut r = Response::new(Sending::new(Bytes::from(format!("{text}\n"))));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    peer: SocketAddr,
    state: Arc<HttpState>,
) -> Result<Resp, Infallible> {
    let head = req.method() == Method::HEAD;
    if req.method() != Method::GET && !head {
        return Ok(simple(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD"));
    }
    let path = req.uri().path().to_string();
    if path == "/status" {
        return Ok(status(&state));
    }
    let mac = req.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("mac="))
            .and_then(|m| String::from_utf8(names::percent_decode(m)).ok())
            .and_then(|m| m.parse().ok())
    });
    let raw = names::percent_decode(&path);
    let range = req
        .headers()
        .get(RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let st = state.clone();
    let ip = peer.ip();
    let found = tokio::task::spawn_blocking(move || st.resolver.resolve_for(ip, &raw, mac))
        .await
        .unwrap_or_else(|e| Err(ResolveError::Io(e.to_string())));
    let (body, generated) = match found {
        Ok(v) => v,
        Err(ResolveError::NotFound(_)) => {
            info!(client = %peer, %path, "http: not found");
            return Ok(simple(StatusCode::NOT_FOUND, "not found"));
        }
        Err(ResolveError::Refused(why)) => {
            warn!(client = %peer, %path, "http: refused: {why}");
            return Ok(simple(StatusCode::FORBIDDEN, "forbidden"));
        }
        Err(ResolveError::Io(why)) => {
            warn!(client = %peer, %path, "http: {why}");
            return Ok(simple(StatusCode::INTERNAL_SERVER_ERROR, "read error"));
        }
    };
    let len = body.len() as u64;
    let (status, slice, content_range) = match range.as_deref().map(|r| parse_range(r, len)) {
        None | Some(RangeReq::Ignore) => (StatusCode::OK, body, None),
        Some(RangeReq::Bytes(a, b)) => (
            StatusCode::PARTIAL_CONTENT,
            body.slice(a as usize..=b as usize),
            Some(format!("bytes {a}-{b}/{len}")),
        ),
        Some(RangeReq::Unsatisfiable) => {
            let mut r = simple(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable");
            r.headers_mut().insert(
                CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{len}")).expect("ascii"),
            );
            return Ok(r);
        }
    };
    info!(client = %peer, %path, bytes = slice.len(), "http: sending");
    let n = slice.len();
    let body = if head {
        Sending::new(Bytes::new())
    } else {
        // The status view's "loader"/"kernel" time is when the file was sent.
        let name = String::from_utf8_lossy(&names::percent_decode(&path)).into_owned();
        let st = state.status.clone();
        Sending::with_done(slice, move || {
            st.file_sent(ip, &name, "http", node_status::now_ms())
        })
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_LENGTH, HeaderValue::from(n));
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(if generated {
            "text/plain; charset=utf-8"
        } else {
            "application/octet-stream"
        }),
    );
    if let Some(cr) = content_range {
        h.insert(CONTENT_RANGE, HeaderValue::from_str(&cr).expect("ascii"));
    }
    Ok(r)
}

fn status(state: &HttpState) -> Resp {
    let inv = state.resolver.shared.inventory.load();
    let files = state.resolver.shared.files.load();
    let tftp = state.tftp.as_ref().map(|s| {
        serde_json::json!({
            "active_sessions": s.active.load(Ordering::Relaxed),
            "completed": s.completed.load(Ordering::Relaxed),
            "failed": s.failed.load(Ordering::Relaxed),
            "bytes_sent": s.bytes_sent.load(Ordering::Relaxed),
        })
    });
    let body = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "cluster": inv.cluster.name,
        "nodes": inv.nodes.len(),
        "boot_root": files.root_path(),
        "tftp": tftp,
        "node_status": state.status.view(),
    });
    let mut r = Response::new(Sending::new(Bytes::from(body.to_string())));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

#[derive(Debug, PartialEq, Eq)]
enum RangeReq {
    /// Inclusive byte range.
    Bytes(u64, u64),
    Unsatisfiable,
    /// Malformed or multi-range: serve the whole file (RFC 9110 allows it).
    Ignore,
}

fn parse_range(h: &str, len: u64) -> RangeReq {
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return RangeReq::Ignore;
    };
    if spec.contains(',') {
        return RangeReq::Ignore;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeReq::Ignore;
    };
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        // Suffix: the last N bytes.
        match b.parse::<u64>() {
            Ok(0) => return RangeReq::Unsatisfiable,
            Ok(n) => (len.saturating_sub(n), len.saturating_sub(1)),
            Err(_) => return RangeReq::Ignore,
        }
    } else {
        let Ok(s) = a.parse::<u64>() else {
            return RangeReq::Ignore;
        };
        let e = if b.is_empty() {
            len.saturating_sub(1)
        } else {
            match b.parse::<u64>() {
                Ok(e) if e >= s => e.min(len.saturating_sub(1)),
                _ => return RangeReq::Ignore,
            }
        };
        (s, e)
    };
    if len == 0 || start >= len {
        return RangeReq::Unsatisfiable;
    }
    RangeReq::Bytes(start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), RangeReq::Bytes(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), RangeReq::Bytes(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), RangeReq::Bytes(90, 99));
        assert_eq!(parse_range("bytes=-1000", 100), RangeReq::Bytes(0, 99));
        assert_eq!(parse_range("bytes=50-1000", 100), RangeReq::Bytes(50, 99));
        assert_eq!(parse_range("bytes=100-", 100), RangeReq::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-0", 0), RangeReq::Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), RangeReq::Ignore);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeReq::Ignore);
        assert_eq!(parse_range("items=0-1", 100), RangeReq::Ignore);
        assert_eq!(parse_range("bytes=x-", 100), RangeReq::Ignore);
    }
}
