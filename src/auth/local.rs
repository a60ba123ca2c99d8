//! Local accounts: password hashing (PBKDF2-HMAC-SHA256), and tokens that are 256 random bits,
//! shown once, stored only as their SHA-256, optionally read-only, expiring or limited to
//! address ranges.

use super::legacy;
use crate::digest::hex;
use crate::error::{Error, Result};
use crate::store::meta;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rusqlite::Connection;
use sha2::{Digest, Sha256};
use std::net::IpAddr;

/// PBKDF2 rounds for new hashes (OWASP's figure for PBKDF2-HMAC-SHA256). Stored with each hash,
/// so raising it later keeps old hashes verifiable.
const ROUNDS: u32 = 600_000;

/// Prefix of every token, so leaked tokens are recognisable (and greppable) as nmr's.
const TOKEN_PREFIX: &str = "nmr_";

/// Hashes a password with a fresh salt into `pbkdf2-sha256$ROUNDS$SALT$HASH`.
pub fn hash_password(password: &str) -> Result<String> {
    let salt = crate::random::bytes(16)?;
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, ROUNDS, &mut out);
    Ok(format!(
        "pbkdf2-sha256${ROUNDS}${}${}",
        STANDARD.encode(salt),
        STANDARD.encode(out)
    ))
}

/// Equality that takes the same time wherever the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks a password against a stored hash.
pub fn verify_password(password: &str, stored: &str) -> bool {
    let parts: Vec<&str> = stored.split('$').collect();
    let [algo, rounds, salt, hash] = parts[..] else {
        return false;
    };
    let (Ok(rounds), Ok(salt), Ok(hash)) = (
        rounds.parse::<u32>(),
        STANDARD.decode(salt),
        STANDARD.decode(hash),
    ) else {
        return false;
    };
    if algo != "pbkdf2-sha256" || rounds == 0 || hash.len() != 32 {
        return false;
    }
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, rounds, &mut out);
    constant_time_eq(&out, &hash)
}

/// Verifies a user's password. An unknown user costs the same hashing as a known one, so the
/// answer's timing does not tell which names exist. A hash imported from an htpasswd file is
/// replaced with nmr's own at the first login that proves the password.
pub fn check_login(conn: &Connection, name: &str, password: &str) -> Result<Option<meta::User>> {
    match meta::user(conn, name)? {
        Some(u) if legacy::is_legacy(&u.password) => {
            if !legacy::verify(password, &u.password) {
                return Ok(None);
            }
            let hash = hash_password(password)?;
            // Only while the old hash is still there: a concurrent `nmr user passwd` wins.
            meta::upgrade_password(conn, name, &u.password, &hash)?;
            Ok(Some(meta::User {
                password: hash,
                ..u
            }))
        }
        Some(u) if verify_password(password, &u.password) => Ok(Some(u)),
        Some(_) => Ok(None),
        None => {
            let _ = verify_password(password, "pbkdf2-sha256$600000$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
            Ok(None)
        }
    }
}

/// Hex SHA-256 of a token: what is stored and looked up.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// What a new token may do and for how long.
#[derive(Default)]
pub struct TokenSpec {
    pub name: Option<String>,
    pub readonly: bool,
    pub cidr: Vec<String>,
    /// Lifetime in days.
    pub expires_days: Option<u64>,
}

/// Creates a token for `user` and returns `(secret, record)`. The secret exists only in the
/// return value: it is shown once to whoever asked for it.
pub fn create_token(
    conn: &Connection,
    user: &str,
    spec: TokenSpec,
) -> Result<(String, meta::Token)> {
    for c in &spec.cidr {
        parse_cidr(c).ok_or_else(|| {
            Error::BadRequest(format!("{c:?} is not an address range such as 10.0.0.0/8"))
        })?;
    }
    let secret = format!("{TOKEN_PREFIX}{}", crate::random::hex_token(32)?);
    let now = crate::time::now_rfc3339();
    let expires = spec.expires_days.map(|d| unix_now() + (d as i64) * 86_400);
    let record = meta::Token {
        key: crate::random::hex_token(16)?,
        user: user.to_string(),
        prefix: secret[..TOKEN_PREFIX.len() + 8].to_string(),
        name: spec.name,
        readonly: spec.readonly,
        cidr: serde_json::to_string(&spec.cidr).expect("strings serialise"),
        created: now,
        expires,
    };
    meta::insert_token(conn, &record, &token_hash(&secret))?;
    Ok((secret, record))
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Parses `10.0.0.0/8`, `::1/128` or a bare address into (network, prefix length).
fn parse_cidr(s: &str) -> Option<(IpAddr, u32)> {
    let (ip, len) = match s.split_once('/') {
        Some((ip, len)) => (ip.parse::<IpAddr>().ok()?, len.parse::<u32>().ok()?),
        None => {
            let ip = s.parse::<IpAddr>().ok()?;
            (ip, if ip.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((ip, len))
}

fn as_bits(ip: IpAddr) -> (u128, bool) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 96, true),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => (u128::from(u32::from(v4)) << 96, true),
            None => (u128::from(v6), false),
        },
    }
}

/// Whether `ip` lies in the range.
pub fn in_cidr(ip: IpAddr, range: &str) -> bool {
    let Some((net, len)) = parse_cidr(range) else {
        return false;
    };
    let (a, a4) = as_bits(ip);
    let (b, b4) = as_bits(net);
    if a4 != b4 {
        return false;
    }
    // IPv4 addresses sit in the top 32 bits, so an IPv4 prefix length applies unchanged.
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    a & mask == b & mask
}

/// Why a presented token does not work, for the 401 text.
fn refuse(why: &str) -> Error {
    Error::Unauthorized(format!(
        "{why}; log in again with `npm login` or ask for a new token"
    ))
}

/// The token's record if it is valid now and from this address.
pub fn verify_token(conn: &Connection, token: &str, from: Option<IpAddr>) -> Result<meta::Token> {
    let t = meta::token_by_hash(conn, &token_hash(token))?.ok_or_else(|| {
        refuse("the token is not known to this registry (wrong, revoked or from another registry)")
    })?;
    if t.expires.is_some_and(|e| e <= unix_now()) {
        return Err(refuse("the token has expired"));
    }
    let ranges: Vec<String> = serde_json::from_str(&t.cidr).unwrap_or_default();
    if !ranges.is_empty() && !from.is_some_and(|ip| ranges.iter().any(|r| in_cidr(ip, r))) {
        return Err(Error::Forbidden(
            "this token may only be used from its allowed address ranges (cidr_whitelist)".into(),
        ));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_salt_and_verify() {
        let h = hash_password("s3cret").unwrap();
        assert!(h.starts_with("pbkdf2-sha256$600000$"));
        assert_ne!(h, hash_password("s3cret").unwrap(), "salted");
        assert!(verify_password("s3cret", &h));
        assert!(!verify_password("s3cre", &h));
        assert!(!verify_password("s3cret", "garbage"));
    }

    #[test]
    fn cidr_ranges_match_v4_v6_and_mapped() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(in_cidr(ip("10.1.2.3"), "10.0.0.0/8"));
        assert!(!in_cidr(ip("11.1.2.3"), "10.0.0.0/8"));
        assert!(in_cidr(ip("127.0.0.1"), "127.0.0.1"));
        assert!(in_cidr(ip("::ffff:127.0.0.1"), "127.0.0.0/8"));
        assert!(in_cidr(ip("::1"), "::1/128"));
        assert!(!in_cidr(ip("::2"), "::1/128"));
        assert!(in_cidr(ip("8.8.8.8"), "0.0.0.0/0"));
        assert!(!in_cidr(ip("10.0.0.1"), "nonsense"));
    }

    #[test]
    fn constant_time_eq_compares_fully() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
