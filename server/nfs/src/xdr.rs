//! XDR (RFC 4506) wire layer: a bounds-checked zero-copy reader over a
//! record and an appending writer. Every length read from the wire is
//! checked against the bytes actually present before anything is
//! allocated, so a hostile length can only produce `Error::Short`.

/// Decoding failure: the record ends early or holds an invalid value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("XDR data ends early")]
    Short,
    #[error("invalid XDR value")]
    Invalid,
}

pub type Result<T> = std::result::Result<T, Error>;

/// Zero-copy reader over one RPC record.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn u32(&mut self) -> Result<u32> {
        let b = self.fixed(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn i32(&mut self) -> Result<i32> {
        Ok(self.u32()? as i32)
    }

    pub fn u64(&mut self) -> Result<u64> {
        let hi = self.u32()? as u64;
        let lo = self.u32()? as u64;
        Ok(hi << 32 | lo)
    }

    pub fn bool(&mut self) -> Result<bool> {
        match self.u32()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Error::Invalid),
        }
    }

    /// Fixed-length opaque of `n` bytes plus padding to a multiple of 4.
    pub fn fixed(&mut self, n: usize) -> Result<&'a [u8]> {
        let padded = n.checked_add(3).ok_or(Error::Short)? & !3;
        if padded > self.remaining() {
            return Err(Error::Short);
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += padded;
        Ok(out)
    }

    /// Variable-length opaque with a maximum length.
    pub fn opaque(&mut self, max: usize) -> Result<&'a [u8]> {
        let n = self.u32()? as usize;
        if n > max {
            return Err(Error::Invalid);
        }
        self.fixed(n)
    }

    /// Everything not read yet (for procedures that carry trailing data).
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }
}

/// Appending writer; callers reuse the vector between replies.
pub struct Writer<'a> {
    pub buf: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        Writer { buf }
    }

    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn i32(&mut self, v: i32) {
        self.u32(v as u32);
    }

    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn bool(&mut self, v: bool) {
        self.u32(v as u32);
    }

    pub fn fixed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        let pad = (4 - data.len() % 4) % 4;
        self.buf.extend_from_slice(&[0u8; 3][..pad]);
    }

    pub fn opaque(&mut self, data: &[u8]) {
        self.u32(data.len() as u32);
        self.fixed(data);
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut v = Vec::new();
        let mut w = Writer::new(&mut v);
        w.u32(7);
        w.u64(1 << 40 | 5);
        w.opaque(b"abcde");
        w.bool(true);
        assert_eq!(v.len(), 4 + 8 + 4 + 8 + 4);
        let mut r = Reader::new(&v);
        assert_eq!(r.u32(), Ok(7));
        assert_eq!(r.u64(), Ok(1 << 40 | 5));
        assert_eq!(r.opaque(16), Ok(&b"abcde"[..]));
        assert_eq!(r.bool(), Ok(true));
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn hostile_lengths_are_short_not_allocations() {
        let bytes = [0xff, 0xff, 0xff, 0xff, 1, 2];
        assert_eq!(Reader::new(&bytes).opaque(usize::MAX), Err(Error::Short));
        assert_eq!(Reader::new(&bytes).opaque(64), Err(Error::Invalid));
        assert_eq!(Reader::new(&bytes[..2]).u32(), Err(Error::Short));
        assert_eq!(Reader::new(&[0, 0, 0, 2]).bool(), Err(Error::Invalid));
    }
}
