//! netascii (RFC 764 via RFC 1350): LF becomes CR LF, a bare CR becomes
//! CR NUL. Converted once per transfer; `tsize` reports the converted size.

pub fn encode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + input.len() / 32);
    for &b in input {
        match b {
            b'\n' => out.extend_from_slice(b"\r\n"),
            b'\r' => out.extend_from_slice(b"\r\0"),
            _ => out.push(b),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn converts_line_ends() {
        assert_eq!(super::encode(b"a\nb\rc\r\n"), b"a\r\nb\r\0c\r\0\r\n");
        assert_eq!(super::encode(b""), b"");
    }
}
