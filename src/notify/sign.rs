//! The signature a receiver checks: `X-Nmr-Signature-256: sha256=<hex HMAC-SHA256 of the body>`
//! keyed with the entry's `secret`, as GitHub signs its webhooks.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header's value for `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!(
        "sha256={}",
        crate::digest::hex(&mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4231_test_case_2() {
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
