//! `pem_private_key`: a whole `-----BEGIN … PRIVATE KEY-----` block (PKCS#8,
//! RSA, EC, DSA, OpenSSH, encrypted, PGP `PRIVATE KEY BLOCK`), through its
//! `-----END …-----` line. A block whose end is missing (a truncated value)
//! is masked to the end of the text: the key material must not leak.
//! Certificates and public keys are not reported.

use memchr::memmem;

use super::{Detector, Pattern, Spans, compile, with_pattern};

static BEGIN: Pattern =
    Pattern::new(|| compile(r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"));

pub(super) fn find(text: &[u8], spans: &mut Spans) {
    with_pattern(&BEGIN, text, spans, Detector::PemPrivateKey, |re, spans| {
        let mut from = 0;
        while let Some(m) = text.get(from..).and_then(|t| re.find(t)) {
            let start = from + m.start();
            let body = from + m.end();
            let end = block_end(text, body).unwrap_or(text.len());
            spans.push(start, end, Detector::PemPrivateKey);
            from = end.max(body);
        }
    });
}

/// The end of the `-----END …-----` line after `body`.
fn block_end(text: &[u8], body: usize) -> Option<usize> {
    let rest = text.get(body..)?;
    let end_line = memmem::find(rest, b"-----END ")? + body + "-----END ".len();
    let close = memmem::find(text.get(end_line..)?, b"-----")? + end_line + "-----".len();
    Some(close)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{assert_hit, assert_none, hits};
    use crate::Detector::PemPrivateKey;

    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----";

    #[test]
    fn finds_blocks() {
        assert_hit(PemPrivateKey, KEY, KEY);
        assert_hit(PemPrivateKey, &format!("key:\n{KEY}\nrest"), KEY);
        let rsa = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD9\n-----END RSA PRIVATE KEY-----";
        assert_hit(PemPrivateKey, rsa, rsa);
        let ssh = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----";
        assert_hit(PemPrivateKey, ssh, ssh);
        let truncated = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIIrY";
        assert_hit(PemPrivateKey, &format!("x {truncated}"), truncated);
        assert_eq!(hits(PemPrivateKey, &format!("{KEY}\n{KEY}")).len(), 2);
    }

    #[test]
    fn ignores_public_material() {
        assert_none(
            PemPrivateKey,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        );
        assert_none(
            PemPrivateKey,
            "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----",
        );
        assert_none(PemPrivateKey, "the private key is in the vault");
    }
}
