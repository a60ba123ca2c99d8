//! Unpredictable bytes from the operating system, for markers, temp names and (later) tokens.

/// The operating system gave no random bytes. Its own type, so that the store and the
/// request path can each wrap it in their own error.
#[derive(Debug, thiserror::Error)]
#[error("cannot get random bytes: {0}")]
pub struct NoRandomness(getrandom::Error);

/// `n` random bytes, from the getrandom(2) system call: no file to open, so it works in an
/// empty chroot too.
pub fn bytes(n: usize) -> Result<Vec<u8>, NoRandomness> {
    let mut buf = vec![0u8; n];
    getrandom::getrandom(&mut buf).map_err(NoRandomness)?;
    Ok(buf)
}

/// `n` random bytes as lower-case hex (`2n` characters).
pub fn hex_token(n: usize) -> Result<String, NoRandomness> {
    Ok(crate::digest::hex(&bytes(n)?))
}
