//! The response body for boot files: the file's bytes in chunks, and a
//! callback once the last chunk is handed to the connection, so the status
//! view records when a kernel was *sent*, not when it was asked for.
//!
//! hyper asks for the next chunk only after it has written the previous one
//! to the socket, so "last chunk taken" is "all but at most one chunk in
//! the kernel's send buffer". A client that goes away early never reaches
//! the last chunk: no callback.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

/// Bytes per frame: large enough that the per-frame cost does not matter,
/// small enough that "last frame taken" is close to "sent".
pub const CHUNK: usize = 256 << 10;

type Done = Box<dyn FnOnce() + Send + Sync>;

pub struct Sending {
    rest: Bytes,
    done: Option<Done>,
}

impl Sending {
    pub fn new(bytes: Bytes) -> Sending {
        Sending {
            rest: bytes,
            done: None,
        }
    }

    /// `done` runs when the last chunk is taken (at once for an empty body).
    pub fn with_done(bytes: Bytes, done: impl FnOnce() + Send + Sync + 'static) -> Sending {
        let mut s = Sending {
            rest: bytes,
            done: Some(Box::new(done)),
        };
        if s.rest.is_empty() {
            s.finish();
        }
        s
    }

    fn finish(&mut self) {
        if let Some(f) = self.done.take() {
            f();
        }
    }
}

impl Body for Sending {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.rest.is_empty() {
            return Poll::Ready(None);
        }
        let n = self.rest.len().min(CHUNK);
        let chunk = self.rest.split_to(n);
        if self.rest.is_empty() {
            self.finish();
        }
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.rest.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn frames(mut b: Sending) -> Vec<usize> {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut out = Vec::new();
        while let Poll::Ready(Some(Ok(f))) = Pin::new(&mut b).poll_frame(&mut cx) {
            out.push(f.into_data().map(|d| d.len()).unwrap_or(0));
        }
        out
    }

    #[test]
    fn chunks_cover_the_file_and_done_runs_once_at_the_last() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let len = 2 * CHUNK + 17;
        let b = Sending::with_done(Bytes::from(vec![7u8; len]), move || {
            c.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(b.size_hint().exact(), Some(len as u64));
        assert_eq!(frames(b), [CHUNK, CHUNK, 17]);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn an_abandoned_transfer_is_not_done_and_an_empty_one_is() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let mut b = Sending::with_done(Bytes::from(vec![0u8; CHUNK + 1]), move || {
            c.fetch_add(1, Ordering::SeqCst);
        });
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let _ = Pin::new(&mut b).poll_frame(&mut cx);
        drop(b);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        let c = calls.clone();
        let e = Sending::with_done(Bytes::new(), move || {
            c.fetch_add(1, Ordering::SeqCst);
        });
        assert!(e.is_end_stream());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(frames(Sending::new(Bytes::new())).is_empty());
    }
}
