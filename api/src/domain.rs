//! Input types built only through `parse`: holding one means it is valid.
//! Each parse error names the field, so the client sees what to fix.

use crate::{error::ApiError, password::Policy};

/// A normalized (trimmed, lower-cased) e-mail address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Parses `raw` as the field `field`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        let email = raw.trim().to_lowercase();
        let invalid = |why: &str| ApiError::validation(field, why.to_owned());
        if email.is_empty() {
            return Err(invalid("is required"));
        }
        if email.len() > 254 {
            return Err(invalid("must be at most 254 characters"));
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(invalid("is not an e-mail address"));
        };
        let bad_char =
            |c: char| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"@".contains(c);
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        if local.is_empty() || local.len() > 64 || local.chars().any(bad_char) || !domain_ok {
            return Err(invalid("is not an e-mail address"));
        }
        Ok(Self(email))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display name: 1 to 100 characters, no control characters.
#[derive(Debug, Clone)]
pub struct PersonName(String);

impl PersonName {
    /// Parses `raw`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(ApiError::validation(field, "is required"));
        }
        if name.chars().count() > 100 {
            return Err(ApiError::validation(
                field,
                "must be at most 100 characters",
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(ApiError::validation(
                field,
                "must not contain control characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password acceptable for a new account under the password [`Policy`]
/// (`password.rs`): the error names the rule it breaks.
#[derive(Clone)]
pub struct NewPassword(String);

impl NewPassword {
    /// Parses `raw` under `policy`.
    pub fn parse(field: &str, raw: &str, policy: &Policy) -> Result<Self, ApiError> {
        policy
            .validate(raw)
            .map_err(|e| ApiError::validation(field, e.to_string()))?;
        Ok(Self(raw.to_owned()))
    }

    /// The password, to hash.
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A 6-digit one-time code.
pub struct OtpCode(String);

impl OtpCode {
    /// Parses `raw`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        let code = raw.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::validation(field, "must be exactly 6 digits"));
        }
        Ok(Self(code.to_owned()))
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_malformed_ones_name_the_field() {
        assert_eq!(
            Email::parse("email", "  Jo@Example.COM ").map(|e| e.0).ok(),
            Some("jo@example.com".into())
        );
        for bad in [
            "", "plain", "a@b", "a b@c.io", "@c.io", "a@.io", "a@c..io", "a@c.io.", "<a>@c.io",
        ] {
            let err = Email::parse("email", bad).err();
            assert_eq!(
                err.map(|e| e.details["field"].clone()),
                Some("email".into()),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_seven_digit_or_lettered_code_is_refused() {
        assert!(OtpCode::parse("otp", "123456").is_ok());
        assert!(OtpCode::parse("otp", "1234567").is_err());
        assert!(OtpCode::parse("otp", "12345a").is_err());
        assert!(OtpCode::parse("otp", "").is_err());
    }

    #[test]
    fn names_are_bounded() {
        assert!(PersonName::parse("name", "Ada").is_ok());
        assert!(PersonName::parse("name", "  ").is_err());
        assert!(PersonName::parse("name", &"x".repeat(101)).is_err());
        assert!(PersonName::parse("name", "a\u{0}b").is_err());
    }
}
