//! Stripe's webhook signature (`Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=…]`):
//! pure functions, no clock and no I/O, so every refusal is unit-tested.
//!
//! The signed text is `"{t}.{raw body}"` and the signature is
//! `hex(HMAC-SHA256(endpoint secret, signed text))`, the secret taken whole (its
//! `whsec_` prefix included), as Stripe's own libraries do. Any `v1` that matches
//! passes (Stripe sends two while a secret is being rolled); `v0` and unknown schemes
//! are ignored. The comparison is constant-time (`Mac::verify_slice`). The signature is
//! checked before the timestamp, so "expired" is only ever said of a genuine event
//! (a replay), and nothing about the expected signature is ever revealed.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a webhook's signature was refused; each is a 400 naming the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `Stripe-Signature` header.
    #[error("the Stripe-Signature header is missing")]
    Missing,
    /// The header is not `t=<unix seconds>,v1=<hex>…` (no timestamp, two of them, no
    /// `v1` signature, a part without `=`).
    #[error("the Stripe-Signature header is malformed")]
    Malformed,
    /// Genuine, but signed further from now than the tolerance: a replay.
    #[error("the signed timestamp is outside the tolerance")]
    Expired,
    /// No `v1` signature matches the body under the endpoint's secret.
    #[error("no signature matches the body")]
    Mismatch,
}

impl SignatureError {
    /// The reason as the error's `details.reason`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Expired => "expired",
            Self::Mismatch => "mismatch",
        }
    }
}

/// The parts of a `Stripe-Signature` header this code uses.
#[derive(Debug, PartialEq, Eq)]
struct Header<'a> {
    timestamp: i64,
    v1: Vec<&'a str>,
}

/// Parses the header; any part without `=`, no or two `t`, or no `v1` is malformed.
fn parse(header: &str) -> Result<Header<'_>, SignatureError> {
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" => {
                let t = value
                    .parse::<i64>()
                    .map_err(|_| SignatureError::Malformed)?;
                if timestamp.replace(t).is_some() {
                    return Err(SignatureError::Malformed);
                }
            }
            "v1" => v1.push(value),
            _ => {}
        }
    }
    match timestamp {
        Some(timestamp) if !v1.is_empty() => Ok(Header { timestamp, v1 }),
        _ => Err(SignatureError::Malformed),
    }
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `v1` signature of `body` sent at `timestamp`, as Stripe computes it (hex).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
}

/// A complete `Stripe-Signature` header for `body` (what Stripe sends; the tests and
/// local tools use it to make genuine events).
pub fn header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", sign(secret, timestamp, body))
}

/// Checks the `Stripe-Signature` `header` of the raw `body` against the endpoint's
/// `secret`, `now` being the current Unix time in seconds.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secret: &str,
    tolerance: Duration,
    now: i64,
) -> Result<(), SignatureError> {
    let header = parse(header.ok_or(SignatureError::Missing)?)?;
    let expected = mac(secret, header.timestamp, body);
    let genuine = header.v1.iter().any(|candidate| {
        hex::decode(candidate).is_ok_and(|bytes| expected.clone().verify_slice(&bytes).is_ok())
    });
    if !genuine {
        return Err(SignatureError::Mismatch);
    }
    let age = now.abs_diff(header.timestamp);
    if Duration::from_secs(age) > tolerance {
        return Err(SignatureError::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
