//! Unpredictable bytes from the operating system, for markers, temp names and (later) tokens.

use crate::error::{Error, Result};

/// `n` random bytes, from the getrandom(2) system call: no file to open, so it works in an
/// empty chroot too.
pub fn bytes(n: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    getrandom::getrandom(&mut buf)
        .map_err(|e| Error::Internal(format!("cannot get random bytes: {e}")))?;
    Ok(buf)
}

/// `n` random bytes as lower-case hex (`2n` characters).
pub fn hex_token(n: usize) -> Result<String> {
    Ok(crate::digest::hex(&bytes(n)?))
}
