//! `/api/auth/*`: registration by e-mailed code, login, rotation, logout, me.

use poem::{Request, web::Data};
use poem_openapi::{OpenApi, payload::Json};

use super::{
    ApiTags,
    credentials::{login, register, request_id, verify_otp},
    outcomes,
};
use crate::{
    auth::{client_ip::client_ip, extract::BearerAuth, service::Proof, users},
    domain::{Email, NewPassword, OtpCode},
    envelope::Envelope,
    error::{ApiError, Failure},
    json_body::JsonBody,
    state::SharedState,
};

mod dto;

pub use dto::{
    Accepted, ChangePasswordRequest, CodeSent, ForgotPasswordRequest, LoggedOut, LoginRequest,
    PasswordReset, RefreshRequest, RegisterAccepted, RegisterRequest, RegistrationStarted,
    ResendOtpRequest, ResetPasswordRequest, ResetRequested, TokenResponse, UserView,
    VerifyOtpRequest,
};

/// The auth endpoints.
pub struct AuthApi;

fn code_sent(state: &SharedState, email: &Email) -> Accepted {
    Accepted::Accepted(Json(Envelope::new(
        CodeSent {
            email: email.as_str().to_owned(),
            status: "pending_verification".into(),
            otp_expires_in_seconds: state.auth.settings.otp_ttl.as_secs(),
        },
        "if the address can be registered, a 6-digit code is on its way",
    )))
}

#[OpenApi(prefix_path = "/api/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Register: e-mails a 6-digit code bound to this registration, whose
    /// `registration_token` the answer carries. The answer is the same whether the
    /// address is new, pending or taken. 400 `VALIDATION_ERROR` names the password
    /// rule broken; 429 with `Retry-After` for the cooldown and the hourly caps.
    #[oai(path = "/register", method = "post", operation_id = "auth_register")]
    async fn register(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        body: JsonBody<RegisterRequest>,
    ) -> Result<RegisterAccepted, Failure<outcomes::SendsCode>> {
        let registered =
            register(&state, req, &body.email, &body.name, &body.password, None).await?;
        Ok(RegisterAccepted::Accepted(Json(Envelope::new(
            RegistrationStarted {
                email: registered.email.as_str().to_owned(),
                status: "pending_verification".into(),
                otp_expires_in_seconds: state.auth.settings.otp_ttl.as_secs(),
                registration_token: registered.registration_token,
            },
            "if the address can be registered, a 6-digit code is on its way",
        ))))
    }

    /// Verify the e-mailed code with the registration's token: the account is
    /// verified with the password chosen at that registration, and signed in.
    /// 401 `OTP_INVALID` for a wrong code (5 tries), 400 `OTP_NOT_FOUND` when no code
    /// is pending for that registration; 429 after too many wrong codes from one address.
    #[oai(
        path = "/verify-otp",
        method = "post",
        operation_id = "auth_verify_otp"
    )]
    async fn verify_otp(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        body: JsonBody<VerifyOtpRequest>,
    ) -> Result<Json<Envelope<TokenResponse>>, Failure<outcomes::ChecksCode>> {
        let proof = Proof::Attempt(body.registration_token.trim());
        let tokens = verify_otp(&state, req, &body.email, proof, &body.otp).await?;
        Ok(Json(Envelope::new(tokens.into(), "e-mail verified")))
    }

    /// Send a new code for a pending registration (cooldown and hourly caps apply: 429
    /// with `Retry-After`).
    #[oai(
        path = "/resend-otp",
        method = "post",
        operation_id = "auth_resend_otp"
    )]
    async fn resend_otp(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        body: JsonBody<ResendOtpRequest>,
    ) -> Result<Accepted, Failure<outcomes::SendsCode>> {
        let email = Email::parse("email", &body.email)?;
        let ip = client_ip(req, &state.auth.settings.trusted_proxies);
        let mut redis = state.redis.clone();
        state
            .auth
            .resend(
                &state.db,
                &mut redis,
                email.clone(),
                body.registration_token.trim(),
                ip,
                request_id(req),
            )
            .await?;
        Ok(code_sent(&state, &email))
    }

    /// Forgotten password: mails a reset code if the address has an account (the same
    /// answer either way; the limits of every code apply: 429 with `Retry-After`).
    #[oai(
        path = "/password/forgot",
        method = "post",
        operation_id = "auth_password_forgot"
    )]
    async fn password_forgot(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        body: JsonBody<ForgotPasswordRequest>,
    ) -> Result<ResetRequested, Failure<outcomes::SendsCode>> {
        let email = Email::parse("email", &body.email)?;
        let ip = client_ip(req, &state.auth.settings.trusted_proxies);
        let mut redis = state.redis.clone();
        state
            .auth
            .forgot_password(&state.db, &mut redis, email, ip, request_id(req))
            .await?;
        Ok(ResetRequested::Accepted(Json(Envelope::new(
            PasswordReset {
                status: "reset_code_sent".into(),
            },
            "if the address has an account, a reset code is on its way",
        ))))
    }

    /// Reset the password with the mailed code. Every session of the account ends on
    /// every instance; log in with the new password. 401 `OTP_INVALID`, 400
    /// `OTP_NOT_FOUND`, 400 `VALIDATION_ERROR` naming the password rule broken.
    #[oai(
        path = "/password/reset",
        method = "post",
        operation_id = "auth_password_reset"
    )]
    async fn password_reset(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        body: JsonBody<ResetPasswordRequest>,
    ) -> Result<Json<Envelope<PasswordReset>>, Failure<outcomes::ChecksCode>> {
        let email = Email::parse("email", &body.email)?;
        let code = OtpCode::parse("otp", &body.otp)?;
        let new_password =
            NewPassword::parse("new_password", &body.new_password, &state.auth.policy())?;
        let ip = client_ip(req, &state.auth.settings.trusted_proxies);
        let mut redis = state.redis.clone();
        state
            .auth
            .reset_password(&state.db, &mut redis, email, code, new_password, ip)
            .await?;
        Ok(Json(Envelope::new(
            PasswordReset {
                status: "password_reset".into(),
            },
            "password reset; every session was ended, log in with the new password",
        )))
    }

    /// Change the password of the signed-in user. Every session of the account ends
    /// on every instance; the answer carries a new session for this client. 401
    /// `INVALID_CREDENTIALS` for a wrong current password.
    #[oai(
        path = "/password/change",
        method = "post",
        operation_id = "auth_password_change"
    )]
    async fn password_change(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        auth: BearerAuth,
        body: JsonBody<ChangePasswordRequest>,
    ) -> Result<Json<Envelope<TokenResponse>>, Failure<outcomes::ChangePassword>> {
        let ChangePasswordRequest {
            current_password,
            new_password,
        } = body.0;
        let new_password = NewPassword::parse("new_password", &new_password, &state.auth.policy())?;
        let ip = client_ip(req, &state.auth.settings.trusted_proxies);
        let mut redis = state.redis.clone();
        let tokens = state
            .auth
            .change_password(
                &state.db,
                &mut redis,
                &auth.0,
                current_password,
                new_password,
                ip,
            )
            .await?;
        Ok(Json(Envelope::new(
            tokens.into(),
            "password changed; every other session was ended",
        )))
    }

    /// Log in with e-mail and password. 401 `INVALID_CREDENTIALS`; 403
    /// `EMAIL_NOT_VERIFIED` (only after a correct password); 429 after 5 failures.
    #[oai(path = "/login", method = "post", operation_id = "auth_login")]
    async fn login(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        body: JsonBody<LoginRequest>,
    ) -> Result<Json<Envelope<TokenResponse>>, Failure<outcomes::Login>> {
        let LoginRequest { email, password } = body.0;
        let tokens = login(&state, req, &email, password).await?;
        Ok(Json(Envelope::new(tokens.into(), "logged in")))
    }

    /// Rotate a refresh token. Presenting a used one revokes the whole session.
    #[oai(path = "/refresh", method = "post", operation_id = "auth_refresh")]
    async fn refresh(
        &self,
        state: Data<&SharedState>,
        body: JsonBody<RefreshRequest>,
    ) -> Result<Json<Envelope<TokenResponse>>, Failure<outcomes::Refresh>> {
        let mut redis = state.redis.clone();
        let tokens = state
            .auth
            .refresh(&state.db, &mut redis, &body.refresh_token)
            .await?;
        Ok(Json(Envelope::new(tokens.into(), "tokens rotated")))
    }

    /// Log out: the session's refresh tokens are revoked and its access tokens stop
    /// working on every instance.
    #[oai(path = "/logout", method = "post", operation_id = "auth_logout")]
    async fn logout(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
    ) -> Result<LoggedOut, Failure<outcomes::SignedIn>> {
        let mut redis = state.redis.clone();
        state.auth.logout(&state.db, &mut redis, &auth.0).await?;
        Ok(LoggedOut::NoContent)
    }

    /// The signed-in user.
    #[oai(path = "/me", method = "get", operation_id = "auth_me")]
    async fn me(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
    ) -> Result<Json<Envelope<UserView>>, Failure<outcomes::SignedIn>> {
        let user = users::by_id(&state.db, auth.0.sub)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
        Ok(Json(Envelope::new(
            UserView::from(&user),
            "the signed-in user",
        )))
    }
}
