//! Content digests as npm writes them: `dist.shasum` (hex SHA-1) and `dist.integrity`
//! (Subresource Integrity strings such as `sha512-<base64>`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

/// The digests the registry records for every stored file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digests {
    /// Lower-case hex SHA-1, npm's `dist.shasum`.
    pub sha1_hex: String,
    /// `sha512-<base64>`, npm's `dist.integrity`.
    pub integrity: String,
}

impl Digests {
    /// Computes both digests of `bytes`.
    pub fn of(bytes: &[u8]) -> Digests {
        Digests {
            sha1_hex: hex(&Sha1::digest(bytes)),
            integrity: format!("sha512-{}", STANDARD.encode(Sha512::digest(bytes))),
        }
    }

    /// Hex of the raw SHA-512, used to make blob keys content-addressed.
    pub fn sha512_hex(&self) -> String {
        sri_sha512_hex(&self.integrity).expect("integrity built by Digests::of is sha512")
    }

    /// Checks an SRI string against the bytes these digests were computed from, like
    /// [`check_integrity`], without hashing again for the sha512 and sha1 it already holds.
    pub fn check_integrity(&self, sri: &str, bytes: &[u8]) -> Result<(), String> {
        check_sri(sri, |algo| match algo {
            "sha512" => Some(self.integrity["sha512-".len()..].to_string()),
            "sha1" => Some(
                STANDARD.encode(
                    (0..self.sha1_hex.len())
                        .step_by(2)
                        .map(|i| {
                            u8::from_str_radix(&self.sha1_hex[i..i + 2], 16).expect("hex we wrote")
                        })
                        .collect::<Vec<u8>>(),
                ),
            ),
            other => compute(other, bytes),
        })
    }
}

/// The hex SHA-512 inside a `sha512-<base64>` integrity string, if that is what it is.
pub fn sri_sha512_hex(integrity: &str) -> Option<String> {
    let b = STANDARD.decode(integrity.strip_prefix("sha512-")?).ok()?;
    (b.len() == 64).then(|| hex(&b))
}

/// The base64 digest of `bytes` for an SRI algorithm name, if it is one we know.
fn compute(algo: &str, bytes: &[u8]) -> Option<String> {
    Some(match algo {
        "sha512" => STANDARD.encode(Sha512::digest(bytes)),
        "sha384" => STANDARD.encode(Sha384::digest(bytes)),
        "sha256" => STANDARD.encode(Sha256::digest(bytes)),
        "sha1" => STANDARD.encode(Sha1::digest(bytes)),
        _ => return None,
    })
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Checks a client's SRI string against `bytes`. Every hash we can compute must match and at
/// least one must be present; unknown algorithms are ignored (as SRI prescribes). Returns a
/// description of the mismatch on failure.
pub fn check_integrity(sri: &str, bytes: &[u8]) -> Result<(), String> {
    check_sri(sri, |algo| compute(algo, bytes))
}

/// The SRI rules, with `digest` giving the actual base64 digest for an algorithm.
fn check_sri(sri: &str, mut digest: impl FnMut(&str) -> Option<String>) -> Result<(), String> {
    let mut checked = 0;
    for token in sri.split_whitespace() {
        // An SRI token may carry options after '?'; they do not change the digest.
        let token = token.split('?').next().unwrap_or("");
        let Some((algo, b64)) = token.split_once('-') else {
            return Err(format!(
                "integrity token {token:?} is not of the form algo-base64"
            ));
        };
        let Some(actual) = digest(algo) else { continue };
        if actual != b64 {
            return Err(format!(
                "integrity {algo}-{b64} does not match the tarball ({algo}-{actual})"
            ));
        }
        checked += 1;
    }
    if checked == 0 {
        return Err(format!(
            "integrity {sri:?} holds no sha512, sha384, sha256 or sha1 hash"
        ));
    }
    Ok(())
}

/// Equality that takes the same time wherever the inputs differ: for comparing secrets (password
/// hashes) without telling an attacker how much of a guess was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_fully() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn digests_match_known_values() {
        let d = Digests::of(b"abc");
        assert_eq!(d.sha1_hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert!(d.integrity.starts_with("sha512-3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw=="));
        assert!(d.sha512_hex().starts_with("ddaf35a193617aba"));
    }

    #[test]
    fn integrity_check_accepts_matching_and_rejects_wrong() {
        let d = Digests::of(b"abc");
        assert!(check_integrity(&d.integrity, b"abc").is_ok());
        assert!(check_integrity(
            &format!("{} sha1-qZk+NkcGgWq6PiVxeFDCbJzQ2J0=", d.integrity),
            b"abc"
        )
        .is_ok());
        assert!(check_integrity(&d.integrity, b"abd").is_err());
        assert!(check_integrity("md5-xyz", b"abc").is_err());
        assert!(check_integrity("garbage", b"abc").is_err());
        let sha1 = "sha1-qZk+NkcGgWq6PiVxeFDCbJzQ2J0=";
        for sri in [
            d.integrity.clone(),
            sha1.to_string(),
            format!("{} {sha1}", d.integrity),
            "sha512-AAAA".into(),
            "md5-x".into(),
        ] {
            assert_eq!(
                d.check_integrity(&sri, b"abc"),
                check_integrity(&sri, b"abc"),
                "{sri}"
            );
        }
        assert!(d.check_integrity(sha1, b"abc").is_ok());
    }
}
