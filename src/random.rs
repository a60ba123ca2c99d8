//! Unpredictable bytes from the operating system, for markers, temp names and (later) tokens.

use crate::error::{Error, Result};
use std::io::Read;

/// `n` random bytes.
pub fn bytes(n: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| Error::Internal(format!("cannot read /dev/urandom: {e}")))?;
    Ok(buf)
}

/// `n` random bytes as lower-case hex (`2n` characters).
pub fn hex_token(n: usize) -> Result<String> {
    Ok(crate::digest::hex(&bytes(n)?))
}
