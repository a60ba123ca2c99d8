//! Password authentication as the server asks for it: the md5 hash, and SCRAM-SHA-256
//! (RFC 5802 and RFC 7677) without channel binding. Pure functions over bytes; the connection
//! code in `mod.rs` moves the messages.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

/// The answer to AuthenticationMD5Password: `"md5" + md5(md5(password + user) + salt)`, in
/// lower-case hex.
pub fn md5_password(user: &str, password: &str, salt: [u8; 4]) -> String {
    let inner = hex(&Md5::digest(
        [password.as_bytes(), user.as_bytes()].concat(),
    ));
    let outer = Md5::digest([inner.as_bytes(), &salt].concat());
    format!("md5{}", hex(&outer))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// `=` and `,` are the only characters SCRAM escapes in a user name (RFC 5802 5.1).
fn escape_name(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// One SCRAM-SHA-256 exchange, from the client's first message to checking the server's
/// signature.
///
/// The password is used as UTF-8 bytes without SASLprep: for ASCII passwords that is the same;
/// a password whose SASLprep form differs (rare Unicode) fails to authenticate. PostgreSQL
/// itself falls back to the raw bytes for passwords SASLprep rejects.
pub struct Scram {
    password: Vec<u8>,
    client_first_bare: String,
    nonce: String,
    /// Set once the client-final message is made: what the server must sign with.
    expected_server_signature: Option<[u8; 32]>,
}

impl Scram {
    /// PostgreSQL ignores the SCRAM user name (it takes the startup message's), so nmr sends
    /// an empty one; the RFC's test vector names one.
    pub fn new(user: &str, password: &str, nonce: &str) -> Scram {
        Scram {
            password: password.as_bytes().to_vec(),
            client_first_bare: format!("n={},r={nonce}", escape_name(user)),
            nonce: nonce.to_string(),
            expected_server_signature: None,
        }
    }

    /// A fresh random nonce: 18 bytes as base64, printable and free of ','.
    pub fn random_nonce() -> Result<String, String> {
        let bytes = crate::random::bytes(18).map_err(|e| e.to_string())?;
        Ok(BASE64.encode(bytes))
    }

    /// client-first-message: the GS2 header `n,,` (no channel binding) and the bare part.
    pub fn client_first(&self) -> String {
        format!("n,,{}", self.client_first_bare)
    }

    /// Reads server-first-message and returns client-final-message (with the proof).
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<String, String> {
        let server_first = std::str::from_utf8(server_first)
            .map_err(|_| "the server's SCRAM message is not UTF-8".to_string())?;
        let (mut nonce, mut salt, mut iterations) = (None, None, None);
        for attr in server_first.split(',') {
            match attr.split_once('=') {
                Some(("r", v)) => nonce = Some(v),
                Some(("s", v)) => salt = Some(v),
                Some(("i", v)) => iterations = Some(v),
                _ => {}
            }
        }
        let bad = |what: &str| format!("the server's SCRAM first message has {what}");
        let nonce = nonce.ok_or_else(|| bad("no nonce"))?;
        // A server nonce that does not extend ours would let an attacker replay an old exchange.
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err(bad("a nonce that does not extend the client's"));
        }
        let salt = BASE64
            .decode(salt.ok_or_else(|| bad("no salt"))?)
            .map_err(|_| bad("a salt that is not base64"))?;
        let iterations: u32 = iterations
            .ok_or_else(|| bad("no iteration count"))?
            .parse()
            .ok()
            .filter(|i| *i > 0)
            .ok_or_else(|| bad("an iteration count that is not a positive number"))?;

        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(&self.password, &salt, iterations, &mut salted);
        let client_key = hmac(&salted, b"Client Key");
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        // "biws" is base64 of the GS2 header "n,,".
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let signature = hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = hmac(&salted, b"Server Key");
        self.expected_server_signature = Some(hmac(&server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", BASE64.encode(proof)))
    }

    /// Checks server-final-message: the server proves it knows the password too, so a server
    /// that merely accepts anyone cannot pose as the real one.
    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(server_final)
            .map_err(|_| "the server's final SCRAM message is not UTF-8".to_string())?;
        if let Some(e) = text.strip_prefix("e=") {
            return Err(format!("the server rejected the SCRAM exchange: {e}"));
        }
        let expected = self
            .expected_server_signature
            .ok_or("the server ended the SCRAM exchange before the client's proof")?;
        let given = text
            .split(',')
            .find_map(|a| a.strip_prefix("v="))
            .and_then(|v| BASE64.decode(v).ok())
            .ok_or("the server's final SCRAM message has no signature")?;
        if given != expected {
            return Err(
                "the server's SCRAM signature is wrong: it does not know the password, so it \
                 is not the database nmr was configured for"
                    .to_string(),
            );
        }
        Ok(())
    }

    /// Whether the server's signature has been computed, i.e. the exchange got to its end.
    pub fn finished(&self) -> bool {
        self.expected_server_signature.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";

    #[test]
    fn scram_matches_the_rfc_7677_test_vector() {
        let mut s = Scram::new("user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(s.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        assert_eq!(
            s.client_final(SERVER_FIRST.as_bytes()).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        s.verify_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
    }

    #[test]
    fn a_wrong_server_signature_is_refused() {
        let mut s = Scram::new("user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        s.client_final(SERVER_FIRST.as_bytes()).unwrap();
        let e = s
            .verify_server_final(b"v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap_err();
        assert!(e.contains("signature is wrong"), "{e}");
        let e = s.verify_server_final(b"e=invalid-proof").unwrap_err();
        assert!(e.contains("invalid-proof"), "{e}");
    }

    #[test]
    fn a_server_nonce_that_does_not_extend_ours_is_refused() {
        let mut s = Scram::new("", "pencil", "abc");
        let e = s
            .client_final(b"r=xyzdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .unwrap_err();
        assert!(e.contains("nonce"), "{e}");
        assert!(s
            .client_final(b"r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0")
            .is_err());
    }

    #[test]
    fn user_names_are_escaped_and_nonces_are_printable() {
        assert_eq!(
            Scram::new("a=b,c", "p", "n").client_first(),
            "n,,n=a=3Db=2Cc,r=n"
        );
        let n = Scram::random_nonce().unwrap();
        assert_eq!(n.len(), 24);
        assert!(!n.contains(','));
    }

    #[test]
    fn md5_matches_postgresql() {
        // Computed with Python's hashlib from the definition.
        assert_eq!(
            md5_password("nmr", "secret", [1, 2, 3, 4]),
            "md585e3992b1822462d65377c07a150ae22"
        );
        // The inner hash is what pg_authid stores for user postgres, password postgres.
        assert_eq!(
            hex(&Md5::digest(b"postgrespostgres")),
            "3175bce1d3201d16594cebf9d7eb3f9d"
        );
    }
}
