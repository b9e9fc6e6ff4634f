//! Signatures of deliveries and of pull requests.
//!
//! `Hongxin-Signature: t=<unix seconds>,kid=<key id>,v1=<hex>` where the hex
//! is HMAC-SHA256 with the subscription's secret over `"<t>.<content>"`:
//! for a delivery (and a pull's answer) the content is the body; for a pull
//! request it is `"GET <path>?<query>"`. Receivers check that `t` is recent
//! (hongxin accepts five minutes either way) and compare in constant time.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const HEADER: &str = "Hongxin-Signature";

/// A new secret: 32 random bytes, as 64 hex digits.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    hex(&bytes)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn mac(secret: &[u8], t: i64, content: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(content);
    mac
}

/// The header value signing `content` at `at` with key `kid`.
pub fn sign(secret: &[u8], kid: &str, at: DateTime<Utc>, content: &[u8]) -> String {
    let t = at.timestamp();
    let digest = mac(secret, t, content).finalize().into_bytes();
    format!("t={t},kid={kid},v1={}", hex(&digest))
}

/// A parsed signature header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub t: i64,
    pub kid: String,
    pub v1: Vec<u8>,
}

pub fn parse(header: &str) -> Option<Signature> {
    let (mut t, mut kid, mut v1) = (None, None, None);
    for part in header.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "t" => t = v.parse().ok(),
            "kid" => kid = Some(v.to_owned()),
            "v1" => v1 = unhex(v),
            _ => {}
        }
    }
    Some(Signature {
        t: t?,
        kid: kid?,
        v1: v1?,
    })
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Whether `sig` signs `content` with `secret` (constant-time compare).
pub fn verify(secret: &[u8], sig: &Signature, content: &[u8]) -> bool {
    mac(secret, sig.t, content).verify_slice(&sig.v1).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_a_changed_body_does_not() {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let header = sign(b"secret", "k1", at, b"{\"a\":1}");
        let sig = parse(&header).expect("parses");
        assert_eq!(sig.t, 1_700_000_000);
        assert_eq!(sig.kid, "k1");
        assert!(verify(b"secret", &sig, b"{\"a\":1}"));
        assert!(!verify(b"secret", &sig, b"{\"a\":2}"));
        assert!(!verify(b"other", &sig, b"{\"a\":1}"));
        assert!(parse("t=1,kid=k1").is_none());
    }
}
