//! Password hashes that came from another registry's htpasswd file (`nmr import
//! --from-verdaccio --htpasswd`): which formats are accepted, how they are stored (tagged, so
//! nothing mistakes them for nmr's own) and how a password is checked against them. A user who
//! logs in with one gets nmr's own hash in its place (see `local::check_password`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use md5::Md5;
use sha1::{Digest, Sha1};

/// What a stored legacy hash starts with: `htpasswd:` and then the line's hash as it was.
pub const TAG: &str = "htpasswd:";

/// The formats accepted, for messages and the README.
pub const ACCEPTED: &str = "bcrypt ($2a$, $2b$, $2y$), {SHA} and Apache MD5 ($apr1$)";

/// An htpasswd hash format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Bcrypt,
    Sha1,
    Apr1,
}

/// The format of an htpasswd hash, or why nmr does not take it: crypt(3) DES keeps only 8
/// characters of a password and plain text is no hash at all, so an account with either would
/// be weaker than the password its user believes in.
pub fn format(hash: &str) -> Result<Format, String> {
    if ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p)) {
        Ok(Format::Bcrypt)
    } else if hash.starts_with("{SHA}") {
        Ok(Format::Sha1)
    } else if hash.starts_with("$apr1$") {
        Ok(Format::Apr1)
    } else {
        let des = hash.len() == 13
            && hash
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/');
        let what = if des {
            "a crypt(3) DES hash"
        } else {
            "not a hash format nmr knows"
        };
        Err(format!(
            "its password is {what}; nmr accepts {ACCEPTED}; set a password with nmr user add"
        ))
    }
}

/// The stored form of an accepted htpasswd hash.
pub fn tag(hash: &str) -> String {
    format!("{TAG}{hash}")
}

/// Whether a stored hash is a tagged legacy one.
pub fn is_legacy(stored: &str) -> bool {
    stored.starts_with(TAG)
}

/// Checks a password against a tagged legacy hash; false for anything else.
pub fn verify(password: &str, stored: &str) -> bool {
    let Some(hash) = stored.strip_prefix(TAG) else {
        return false;
    };
    match format(hash) {
        Ok(Format::Bcrypt) => bcrypt::verify(password, hash).unwrap_or(false),
        Ok(Format::Sha1) => {
            let want = format!(
                "{{SHA}}{}",
                STANDARD.encode(Sha1::digest(password.as_bytes()))
            );
            crate::digest::constant_time_eq(want.as_bytes(), hash.as_bytes())
        }
        Ok(Format::Apr1) => {
            let salt = hash["$apr1$".len()..].split('$').next().unwrap_or("");
            let want = apr1(password.as_bytes(), salt.as_bytes());
            crate::digest::constant_time_eq(want.as_bytes(), hash.as_bytes())
        }
        Err(_) => false,
    }
}

/// The crypt alphabet, used by MD5-crypt's own base-64 encoding.
const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Apache's MD5-crypt (`$apr1$SALT$HASH`): Poul-Henning Kamp's MD5-crypt with Apache's magic
/// string. No maintained crate does only this, and it is a fixed, documented algorithm.
fn apr1(password: &[u8], salt: &[u8]) -> String {
    const MAGIC: &[u8] = b"$apr1$";
    let salt = &salt[..salt.len().min(8)];
    let mut alt = Md5::new();
    alt.update(password);
    alt.update(salt);
    alt.update(password);
    let alt = alt.finalize();
    let mut ctx = Md5::new();
    ctx.update(password);
    ctx.update(MAGIC);
    ctx.update(salt);
    for chunk in (0..password.len()).step_by(16) {
        ctx.update(&alt[..(password.len() - chunk).min(16)]);
    }
    let mut i = password.len();
    while i > 0 {
        if i & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&password[..1]);
        }
        i >>= 1;
    }
    let mut sum = ctx.finalize();
    for round in 0..1000 {
        let mut c = Md5::new();
        if round & 1 == 1 {
            c.update(password);
        } else {
            c.update(sum);
        }
        if round % 3 != 0 {
            c.update(salt);
        }
        if round % 7 != 0 {
            c.update(password);
        }
        if round & 1 == 1 {
            c.update(sum);
        } else {
            c.update(password);
        }
        sum = c.finalize();
    }
    let mut out = String::from("$apr1$");
    out.push_str(&String::from_utf8_lossy(salt));
    out.push('$');
    let mut put = |v: u32, n: usize| {
        let mut v = v;
        for _ in 0..n {
            out.push(ITOA64[(v & 0x3f) as usize] as char);
            v >>= 6;
        }
    };
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        put(
            (u32::from(sum[a]) << 16) | (u32::from(sum[b]) << 8) | u32::from(sum[c]),
            4,
        );
    }
    put(u32::from(sum[11]), 2);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apr1_matches_what_openssl_and_htpasswd_write() {
        // `openssl passwd -apr1 -salt saltsalt 'open sesame'`
        assert_eq!(
            apr1(b"open sesame", b"saltsalt"),
            "$apr1$saltsalt$HIDXe7D36X22w1CH4M1cQ."
        );
        assert_eq!(apr1(b"p@ss:word", b"xy"), "$apr1$xy$9GoMe6SBsRlkuYZ0tlsom.");
    }

    #[test]
    fn each_accepted_format_verifies_the_right_password_only() {
        let cases = [
            // bcryptjs, as Verdaccio writes it (cost 4 to keep the test fast).
            "$2a$04$tDY3UvQxshoL/qZFkB1.YeBfhanPsiLAcw.YDRGlhjXWaYkkegXby",
            "{SHA}W8r/fyL/UzygmbNAjq2HbA67qac=",
            "$apr1$saltsalt$HIDXe7D36X22w1CH4M1cQ.",
        ];
        let passwords = ["correct horse", "open sesame", "open sesame"];
        for (hash, pw) in cases.iter().zip(passwords) {
            let stored = tag(hash);
            assert!(is_legacy(&stored));
            assert!(verify(pw, &stored), "{hash}");
            assert!(!verify("wrong", &stored), "{hash}");
            assert!(!verify(pw, hash), "untagged hashes are not legacy ones");
        }
    }

    #[test]
    fn des_crypt_and_plain_text_are_refused_with_the_accepted_list() {
        let e = format("abJnggxhB/yJU").unwrap_err();
        assert!(e.contains("crypt(3) DES") && e.contains(ACCEPTED), "{e}");
        let e = format("hunter2").unwrap_err();
        assert!(e.contains("not a hash format"), "{e}");
        assert_eq!(format("$2y$10$abc"), Ok(Format::Bcrypt));
    }
}
