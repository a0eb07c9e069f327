//! The bodies of `/api/auth/*`: what clients send and what they get back.
//!
//! Invariant: a body holding a password, a code or a token never prints it
//! through `Debug` (a log line of a request must not leak a credential); each
//! such type lists every field as shown or hidden, so a new field cannot slip by.

use poem_openapi::{ApiResponse, Object, payload::Json};
use uuid::Uuid;

use crate::{
    auth::{service::IssuedTokens, users},
    envelope::Envelope,
};

/// `POST /api/auth/register`.
#[derive(Object)]
pub struct RegisterRequest {
    /// E-mail address; the code is sent there.
    pub email: String,
    /// At least 10 characters (`PASSWORD_MIN_LENGTH`), at most 72 bytes, not only
    /// whitespace, not one of the 10,000 most common passwords.
    pub password: String,
    /// Display name, 1 to 100 characters.
    pub name: String,
}

/// `POST /api/auth/verify-otp`.
#[derive(Object)]
pub struct VerifyOtpRequest {
    /// The address the code was sent to.
    pub email: String,
    /// The `registration_token` the registration answered: the code is checked
    /// against that registration only, and only its password is applied.
    pub registration_token: String,
    /// The 6-digit code.
    pub otp: String,
}

/// `POST /api/auth/resend-otp`.
#[derive(Object)]
pub struct ResendOtpRequest {
    /// The address of the pending account.
    pub email: String,
    /// The `registration_token` of the registration to send a new code for.
    pub registration_token: String,
}

/// `POST /api/auth/password/forgot`.
#[derive(Debug, Object)]
pub struct ForgotPasswordRequest {
    /// The account's address; a reset code is mailed there if it has one.
    pub email: String,
}

/// `POST /api/auth/password/reset`.
#[derive(Object)]
pub struct ResetPasswordRequest {
    /// The account's address.
    pub email: String,
    /// The 6-digit reset code from the e-mail.
    pub otp: String,
    /// The new password (the same rules as at registration).
    pub new_password: String,
}

/// `POST /api/auth/password/change`.
#[derive(Object)]
pub struct ChangePasswordRequest {
    /// The password in use now.
    pub current_password: String,
    /// The new password (the same rules as at registration).
    pub new_password: String,
}

/// `POST /api/auth/login`.
#[derive(Object)]
pub struct LoginRequest {
    /// E-mail address.
    pub email: String,
    /// Password.
    pub password: String,
}

/// `POST /api/auth/refresh`.
#[derive(Object)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh.
    pub refresh_token: String,
}

/// A user as clients see it.
#[derive(Debug, Object)]
pub struct UserView {
    /// Id.
    pub id: Uuid,
    /// E-mail address.
    pub email: String,
    /// Display name.
    pub name: String,
    /// `customer` or `admin`.
    pub role: String,
}

impl From<&users::User> for UserView {
    fn from(u: &users::User) -> Self {
        Self {
            id: u.id,
            email: u.email.clone(),
            name: u.name.clone(),
            role: u.role.clone(),
        }
    }
}

/// Tokens of a session.
#[derive(Object)]
pub struct TokenResponse {
    /// JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Opaque token for `/api/auth/refresh`; single use.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The signed-in user.
    pub user: UserView,
}

impl From<IssuedTokens> for TokenResponse {
    fn from(t: IssuedTokens) -> Self {
        Self {
            user: UserView::from(&t.user),
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            token_type: "Bearer".into(),
            expires_in: t.expires_in,
        }
    }
}

/// The code is on its way (the same answer whether or not the address is taken).
#[derive(Debug, Object)]
pub struct CodeSent {
    /// The address, normalized.
    pub email: String,
    /// Always `pending_verification`.
    pub status: String,
    /// Seconds the code stays valid.
    pub otp_expires_in_seconds: u64,
}

/// A registration was taken (the same answer whether or not the address is taken).
#[derive(Object)]
pub struct RegistrationStarted {
    /// The address, normalized.
    pub email: String,
    /// Always `pending_verification`.
    pub status: String,
    /// Seconds the code stays valid.
    pub otp_expires_in_seconds: u64,
    /// Proof of this registration: send it with the code to `verify-otp` (and to
    /// `resend-otp`). Keep it in the client that registered.
    pub registration_token: String,
}

/// 202 for registration.
#[derive(ApiResponse)]
pub enum RegisterAccepted {
    /// A code bound to this registration is on its way if the address can be registered.
    #[oai(status = 202)]
    Accepted(Json<Envelope<RegistrationStarted>>),
}

/// 202 for code requests.
#[derive(ApiResponse)]
pub enum Accepted {
    /// A code is on its way if the address has a pending account.
    #[oai(status = 202)]
    Accepted(Json<Envelope<CodeSent>>),
}

/// What a password reset answers.
#[derive(Debug, Object)]
pub struct PasswordReset {
    /// Always `password_reset`.
    pub status: String,
}

/// 202 for a reset request.
#[derive(ApiResponse)]
pub enum ResetRequested {
    /// A reset code is on its way if the address has an account.
    #[oai(status = 202)]
    Accepted(Json<Envelope<PasswordReset>>),
}

/// 204 for logout.
#[derive(ApiResponse)]
pub enum LoggedOut {
    /// The session is revoked on every instance.
    #[oai(status = 204)]
    NoContent,
}

redacted_debug!(RegisterRequest {
    shown: [email, name],
    hidden: [password]
});
redacted_debug!(VerifyOtpRequest {
    shown: [email],
    hidden: [registration_token, otp]
});
redacted_debug!(RegistrationStarted {
    shown: [email, status, otp_expires_in_seconds],
    hidden: [registration_token]
});
redacted_debug!(ResendOtpRequest {
    shown: [email],
    hidden: [registration_token]
});
redacted_debug!(ResetPasswordRequest {
    shown: [email],
    hidden: [otp, new_password]
});
redacted_debug!(ChangePasswordRequest {
    shown: [],
    hidden: [current_password, new_password]
});
redacted_debug!(LoginRequest {
    shown: [email],
    hidden: [password]
});
redacted_debug!(RefreshRequest {
    shown: [],
    hidden: [refresh_token]
});
redacted_debug!(TokenResponse {
    shown: [token_type, expires_in, user],
    hidden: [access_token, refresh_token]
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_never_print_their_secrets() {
        let login = LoginRequest {
            email: "a@x.io".into(),
            password: "hunter2-hunter2".into(),
        };
        let text = format!("{login:?}");
        assert!(text.contains("a@x.io"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        let refresh = RefreshRequest {
            refresh_token: "deadbeef".into(),
        };
        assert!(!format!("{refresh:?}").contains("deadbeef"));
        let verify = VerifyOtpRequest {
            email: "a@x.io".into(),
            registration_token: "0123abcd".into(),
            otp: "123456".into(),
        };
        let text = format!("{verify:?}");
        assert!(
            !text.contains("0123abcd") && !text.contains("123456"),
            "{text}"
        );
    }

    #[test]
    fn a_token_response_never_prints_its_tokens() {
        let tokens = TokenResponse {
            access_token: "eyJhbGciOi.secret".into(),
            refresh_token: "cafebabe".into(),
            token_type: "Bearer".into(),
            expires_in: 900,
            user: UserView {
                id: Uuid::nil(),
                email: "a@x.io".into(),
                name: "A".into(),
                role: "customer".into(),
            },
        };
        let text = format!("{tokens:?}");
        assert!(
            !text.contains("secret") && !text.contains("cafebabe"),
            "{text}"
        );
        assert!(text.contains("a@x.io") && text.contains("900"), "{text}");
    }
}
