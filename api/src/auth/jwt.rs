//! Access tokens: HS256 JWTs, short-lived, every registered claim validated.
//!
//! `sid` names the refresh-token family (the session): logging out or reusing a
//! rotated refresh token revokes the family, and a Redis entry makes every instance
//! refuse that family's access tokens until they expire.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::configuration::AuthSettings;

/// The one algorithm accepted.
const ALGORITHM: Algorithm = Algorithm::HS256;

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// The user id.
    pub sub: Uuid,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Issued at.
    pub iat: u64,
    /// Token id.
    pub jti: Uuid,
    /// Session (refresh-token family) id.
    pub sid: Uuid,
    /// `customer` or `admin` when issued. Informational only: every request checks
    /// the role the server holds now (see `extract.rs`).
    pub role: String,
    /// The user's token version when issued; a password or role change bumps it on
    /// the server and every older token is refused.
    #[serde(default)]
    pub ver: i32,
}

/// Signs and checks access tokens.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

/// Why a token was refused (always answered as 401).
#[derive(Debug, thiserror::Error)]
#[error("invalid access token: {0}")]
pub struct InvalidToken(String);

impl TokenKeys {
    /// Keys from the auth settings.
    pub fn new(settings: &AuthSettings) -> Self {
        let mut validation = Validation::new(ALGORITHM);
        validation.set_issuer(&[&settings.jwt_issuer]);
        validation.set_audience(&[&settings.jwt_audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(settings.jwt_secret.as_bytes()),
            decoding: DecodingKey::from_secret(settings.jwt_secret.as_bytes()),
            validation,
            issuer: settings.jwt_issuer.clone(),
            audience: settings.jwt_audience.clone(),
            ttl: settings.access_ttl,
        }
    }

    /// Lifetime of the tokens issued.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Issues a token for `user` in session `sid` at token version `ver`.
    pub fn issue(
        &self,
        user: Uuid,
        role: &str,
        sid: Uuid,
        ver: i32,
    ) -> anyhow::Result<(String, Claims)> {
        let now = now_secs();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user,
            exp: now + self.ttl.as_secs(),
            iat: now,
            jti: Uuid::new_v4(),
            sid,
            role: role.to_owned(),
            ver,
        };
        let token = encode(&Header::new(ALGORITHM), &claims, &self.encoding)?;
        Ok((token, claims))
    }

    /// Verifies signature, algorithm, `iss`, `aud`, `exp`, and the presence of `sub`,
    /// `iat`, `jti` (typed claims: a missing one fails to decode).
    pub fn verify(&self, token: &str) -> Result<Claims, InvalidToken> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| InvalidToken(e.to_string()))?;
        if data.claims.iat > now_secs() + 60 {
            return Err(InvalidToken("issued in the future".into()));
        }
        Ok(data.claims)
    }
}

/// Seconds since the epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

    fn settings(secret: &str) -> AuthSettings {
        AuthSettings {
            jwt_secret: secret.into(),
            jwt_issuer: "shop-api".into(),
            jwt_audience: "shop-clients".into(),
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(86_400),
            refresh_max_age: Duration::from_secs(86_400 * 90),
            refresh_reuse_grace: Duration::from_secs(5),
            password_min_length: 10,
            otp_verify_max_failures_per_ip: 30,
            otp_verify_max_failures_per_account: 20,
            login_delay_base: Duration::from_secs(1),
            login_delay_max: Duration::from_secs(300),
            login_known_address_ttl: Duration::from_secs(86_400 * 30),
            otp_secret: "x".repeat(32),
            otp_ttl: Duration::from_secs(600),
            otp_max_attempts: 5,
            otp_cooldown: Duration::from_secs(60),
            otp_max_per_hour_per_email: 5,
            otp_max_per_hour_per_ip: 20,
            login_max_failures: 5,
            login_max_failures_per_ip: 50,
            login_window: Duration::from_secs(900),
            bcrypt_cost: 4,
            bcrypt_max_concurrency: 1,
            trusted_proxies: vec![],
        }
    }

    fn keys() -> TokenKeys {
        TokenKeys::new(&settings(&"s".repeat(32)))
    }

    #[test]
    fn an_issued_token_verifies_with_its_claims() -> anyhow::Result<()> {
        let (token, claims) = keys().issue(Uuid::new_v4(), "admin", Uuid::new_v4(), 0)?;
        assert_eq!(keys().verify(&token).ok(), Some(claims));
        Ok(())
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() -> anyhow::Result<()> {
        let other = TokenKeys::new(&settings(&"o".repeat(32)));
        let (token, _) = other.issue(Uuid::new_v4(), "customer", Uuid::new_v4(), 0)?;
        assert!(keys().verify(&token).is_err());
        Ok(())
    }

    #[test]
    fn an_unsigned_alg_none_token_is_refused() -> anyhow::Result<()> {
        let (token, _) = keys().issue(Uuid::new_v4(), "admin", Uuid::new_v4(), 0)?;
        let payload = token.split('.').nth(1).unwrap_or_default();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(keys().verify(&format!("{header}.{payload}.")).is_err());
        Ok(())
    }

    #[test]
    fn a_tampered_payload_is_refused() -> anyhow::Result<()> {
        let (token, mut claims) = keys().issue(Uuid::new_v4(), "customer", Uuid::new_v4(), 0)?;
        claims.role = "admin".into();
        let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims)?);
        let parts: Vec<&str> = token.split('.').collect();
        let tampered = format!("{}.{}.{}", parts[0], forged, parts[2]);
        assert!(keys().verify(&tampered).is_err());
        Ok(())
    }

    #[test]
    fn an_expired_token_or_one_for_another_audience_is_refused() -> anyhow::Result<()> {
        let k = keys();
        let now = now_secs();
        let mut claims = Claims {
            iss: "shop-api".into(),
            aud: "shop-clients".into(),
            sub: Uuid::new_v4(),
            exp: now - 120,
            iat: now - 1000,
            jti: Uuid::new_v4(),
            sid: Uuid::new_v4(),
            role: "customer".into(),
            ver: 0,
        };
        let expired = encode(&Header::new(ALGORITHM), &claims, &k.encoding)?;
        assert!(k.verify(&expired).is_err());
        claims.exp = now + 600;
        claims.aud = "someone-else".into();
        let wrong_aud = encode(&Header::new(ALGORITHM), &claims, &k.encoding)?;
        assert!(k.verify(&wrong_aud).is_err());
        Ok(())
    }
}
