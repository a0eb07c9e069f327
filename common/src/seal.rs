//! Sealing a short secret (an OTP code) inside an event.
//!
//! The code must reach the email consumer through the outbox and Kafka, but must not
//! sit there in plain text: it is encrypted with XChaCha20-Poly1305 under
//! `EVENT_SEAL_KEY`, which only the API and the email consumer hold.

use base64::{Engine, engine::general_purpose::STANDARD};
use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, KeyInit},
};
use rand::RngCore;

use crate::config::SealKey;

/// Why a sealed value could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("sealed value is invalid or was sealed with another key")]
pub struct SealError;

/// Why a value could not be sealed.
#[derive(Debug, thiserror::Error)]
#[error("sealing failed")]
pub struct SealFailed;

/// Encrypts `plain`; the result is base64 of nonce ‖ ciphertext. An encryption
/// failure is an error, never an empty or partial value.
pub fn seal(key: &SealKey, plain: &str) -> Result<String, SealFailed> {
    let cipher = XChaCha20Poly1305::new((&key.0).into());
    let mut nonce = [0u8; 24];
    rand::rng().fill_bytes(&mut nonce);
    let ciphertext = cipher
        .encrypt(&XNonce::from(nonce), plain.as_bytes())
        .map_err(|_| SealFailed)?;
    let mut out = nonce.to_vec();
    out.extend(ciphertext);
    Ok(STANDARD.encode(out))
}

/// Decrypts a value made by [`seal`].
pub fn open(key: &SealKey, sealed: &str) -> Result<String, SealError> {
    let bytes = STANDARD.decode(sealed).map_err(|_| SealError)?;
    if bytes.len() < 24 {
        return Err(SealError);
    }
    let (nonce, ciphertext) = bytes.split_at(24);
    let nonce: [u8; 24] = nonce.try_into().map_err(|_| SealError)?;
    let cipher = XChaCha20Poly1305::new((&key.0).into());
    let plain = cipher
        .decrypt(&XNonce::from(nonce), ciphertext)
        .map_err(|_| SealError)?;
    String::from_utf8(plain).map_err(|_| SealError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_code_opens_with_its_key_only() {
        let key = SealKey([7; 32]);
        let sealed = seal(&key, "123456").unwrap_or_default();
        assert!(!sealed.contains("123456"));
        assert_eq!(open(&key, &sealed).ok().as_deref(), Some("123456"));
        assert!(open(&SealKey([8; 32]), &sealed).is_err());
        assert!(open(&key, "garbage").is_err());
    }

    #[test]
    fn try_seal_gives_a_value_that_opens() {
        let key = SealKey([3; 32]);
        let sealed = seal(&key, "654321").unwrap_or_default();
        assert_eq!(open(&key, &sealed).ok().as_deref(), Some("654321"));
        assert!(open(&key, "").is_err());
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        let key = SealKey([1; 32]);
        assert_ne!(seal(&key, "000000").ok(), seal(&key, "000000").ok());
    }
}
