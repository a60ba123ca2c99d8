//! Local accounts: password hashing (PBKDF2-HMAC-SHA256), and tokens that are 256 random bits,
//! shown once, stored only as their SHA-256, optionally read-only, expiring or limited to
//! address ranges.

use super::hashing;
use super::legacy;
use crate::app::Ctx;
use crate::digest::{constant_time_eq, hex};
use crate::error::{Error, Result};
use crate::store::db::Connection;
use crate::store::meta;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::net::IpAddr;

/// PBKDF2 rounds for new hashes (OWASP's figure for PBKDF2-HMAC-SHA256). Stored with each hash,
/// so raising it later keeps old hashes verifiable.
const ROUNDS: u32 = 600_000;

/// Prefix of every token, so leaked tokens are recognisable (and greppable) as nmr's.
const TOKEN_PREFIX: &str = "nmr_";

/// Longest lifetime a token can be given, in days: ten years. Anything longer is a mistake (or
/// an attempt to overflow the expiry time); a token that should not expire is given none.
pub const MAX_EXPIRES_DAYS: u64 = 3650;

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

/// What an unknown user's password is checked against, so that the answer's timing does not
/// tell which names exist.
const NOBODY: &str =
    "pbkdf2-sha256$600000$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

/// Checks a password against a stored hash of either kind, nmr's own or one imported from an
/// htpasswd file. A right password for an imported hash also gives nmr's own hash to store in
/// its place: the old format is checked once, at the first login that proves the password.
fn check_hash(password: &str, stored: &str) -> (bool, Option<String>) {
    if !legacy::is_legacy(stored) {
        return (verify_password(password, stored), None);
    }
    let right = legacy::verify(password, stored);
    (right, right.then(|| hash_password(password).ok()).flatten())
}

/// Checks a user's password for a request from `from` (a login, or a token made with the
/// password). While the account or the address has failed too often this is refused with 429
/// before anything is hashed; otherwise the hash runs on the hashing pool, outside the handler
/// slot, and the outcome is counted.
pub fn check_password(
    ctx: &mut Ctx,
    name: &str,
    password: &str,
    from: Option<IpAddr>,
) -> Result<Option<meta::User>> {
    let app = ctx.app;
    app.throttle
        .check(ctx.db, name, from, crate::time::now_millis())?;
    let user = meta::user(ctx.db, name)?;
    let stored = user
        .as_ref()
        .map_or(NOBODY, |u| u.password.as_str())
        .to_string();
    let password = password.to_string();
    let job = app.hashing.submit(move || check_hash(&password, &stored))?;
    let (right, upgraded) = ctx.off_slot(|| hashing::wait(job))?;
    match user {
        Some(u) if right => {
            app.throttle.succeeded(ctx.db, name, from)?;
            let Some(hash) = upgraded else {
                return Ok(Some(u));
            };
            // Only while the old hash is still there: a concurrent `nmr user passwd` wins.
            meta::upgrade_password(ctx.db, name, &u.password, &hash)?;
            Ok(Some(meta::User {
                password: hash,
                ..u
            }))
        }
        _ => {
            app.throttle
                .failed(ctx.db, name, from, crate::time::now_millis())?;
            Ok(None)
        }
    }
}

/// [`hash_password`] on the hashing pool, outside the handler slot.
pub fn hash_off_slot(ctx: &Ctx, password: &str) -> Result<String> {
    let password = password.to_string();
    let job = ctx.app.hashing.submit(move || hash_password(&password))?;
    ctx.off_slot(|| hashing::wait(job))?
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
    /// Lifetime in days, at most [`MAX_EXPIRES_DAYS`] (0: already expired).
    pub expires_days: Option<u64>,
}

/// The unix time a token made now for `days` days expires, or a 400 saying what is allowed.
pub fn expiry(now: i64, days: u64) -> Result<i64> {
    let refuse = || {
        Error::BadRequest(format!(
            "a token's lifetime must be a whole number of days from 0 to {MAX_EXPIRES_DAYS}, not {days}"
        ))
    };
    if days > MAX_EXPIRES_DAYS {
        return Err(refuse());
    }
    i64::try_from(days)
        .ok()
        .and_then(|d| d.checked_mul(86_400))
        .and_then(|s| now.checked_add(s))
        .ok_or_else(refuse)
}

/// Creates a token for `user` and returns `(secret, record)`. The secret exists only in the
/// return value: it is shown once to whoever asked for it.
pub fn create_token(
    conn: &Connection,
    user: &str,
    spec: TokenSpec,
) -> Result<(String, meta::Token)> {
    let expires = spec
        .expires_days
        .map(|d| expiry(unix_now(), d))
        .transpose()?;
    for c in &spec.cidr {
        crate::cidr::parse(c).ok_or_else(|| {
            Error::BadRequest(format!("{c:?} is not an address range such as 10.0.0.0/8"))
        })?;
    }
    let secret = format!("{TOKEN_PREFIX}{}", crate::random::hex_token(32)?);
    let now = crate::time::now_rfc3339();
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

/// Whether `ip` lies in the range.
pub fn in_cidr(ip: IpAddr, range: &str) -> bool {
    crate::cidr::contains(range, ip)
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
    fn token_lifetimes_are_bounded_and_never_overflow() {
        assert_eq!(expiry(1_000, 0).unwrap(), 1_000);
        assert_eq!(expiry(1_000, 2).unwrap(), 1_000 + 2 * 86_400);
        assert!(expiry(1_000, MAX_EXPIRES_DAYS).is_ok());
        for days in [MAX_EXPIRES_DAYS + 1, u64::MAX, i64::MAX as u64 / 86_400 + 1] {
            assert!(
                matches!(expiry(1_000, days), Err(Error::BadRequest(_))),
                "{days}"
            );
        }
        assert!(
            expiry(i64::MAX - 10, 1).is_err(),
            "no wrap-around near the end of time"
        );
    }
}
