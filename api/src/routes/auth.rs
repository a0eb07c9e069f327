//! `/api/auth/*`: registration by e-mailed code, login, rotation, logout, me.

use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use crate::json_body::JsonBody;
use uuid::Uuid;

use super::ApiTags;
use crate::{
    auth::{
        client_ip::client_ip,
        extract::BearerAuth,
        service::{IssuedTokens, Proof, Registered, Registration},
        users,
    },
    domain::{Email, NewPassword, OtpCode, PersonName},
    envelope::Envelope,
    error::ApiError,
    middleware::RequestId,
    state::SharedState,
};

/// `POST /api/auth/register`.
#[derive(Debug, Object)]
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
#[derive(Debug, Object)]
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
#[derive(Debug, Object)]
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
#[derive(Debug, Object)]
pub struct ResetPasswordRequest {
    /// The account's address.
    pub email: String,
    /// The 6-digit reset code from the e-mail.
    pub otp: String,
    /// The new password (the same rules as at registration).
    pub new_password: String,
}

/// `POST /api/auth/password/change`.
#[derive(Debug, Object)]
pub struct ChangePasswordRequest {
    /// The password in use now.
    pub current_password: String,
    /// The new password (the same rules as at registration).
    pub new_password: String,
}

/// `POST /api/auth/login`.
#[derive(Debug, Object)]
pub struct LoginRequest {
    /// E-mail address.
    pub email: String,
    /// Password.
    pub password: String,
}

/// `POST /api/auth/refresh`.
#[derive(Debug, Object)]
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
#[derive(Debug, Object)]
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
#[derive(Debug, Object)]
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

/// The auth endpoints.
pub struct AuthApi;

fn request_id(req: &Request) -> Option<String> {
    req.data::<RequestId>().map(|r| r.0.clone())
}

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

/// Registration from raw fields, shared by the canonical and the legacy route:
/// validates them and registers.
pub(super) async fn register(
    state: &SharedState,
    req: &Request,
    email: &str,
    name: &str,
    password: &str,
) -> Result<Registered, ApiError> {
    let email = Email::parse("email", email)?;
    let name = PersonName::parse("name", name)?;
    let password = NewPassword::parse("password", password, &state.auth.policy())?;
    let ip = client_ip(req, &state.auth.settings.trusted_proxies);
    let mut redis = state.redis.clone();
    state
        .auth
        .register(
            &state.db,
            &mut redis,
            Registration {
                email: email.clone(),
                name,
                password,
            },
            ip,
            request_id(req),
        )
        .await
        .map_err(ApiError::from)
}

/// Code verification from raw fields, shared by the canonical route (with the
/// registration's token) and the legacy route (without).
pub(super) async fn verify_otp(
    state: &SharedState,
    req: &Request,
    email: &str,
    proof: Proof<'_>,
    otp: &str,
) -> Result<IssuedTokens, ApiError> {
    let email = Email::parse("email", email)?;
    let code = OtpCode::parse("otp", otp)?;
    let ip = client_ip(req, &state.auth.settings.trusted_proxies);
    let mut redis = state.redis.clone();
    state
        .auth
        .verify_otp(
            &state.db,
            &mut redis,
            email,
            proof,
            code,
            ip,
            request_id(req),
        )
        .await
        .map_err(ApiError::from)
}

/// Password login from raw fields, shared by the canonical and the legacy route.
pub(super) async fn login(
    state: &SharedState,
    req: &Request,
    email: &str,
    password: String,
) -> Result<IssuedTokens, ApiError> {
    let email = Email::parse("email", email)?;
    if password.is_empty() {
        return Err(ApiError::validation("password", "is required"));
    }
    let ip = client_ip(req, &state.auth.settings.trusted_proxies);
    let mut redis = state.redis.clone();
    state
        .auth
        .login(&state.db, &mut redis, email, password, ip)
        .await
        .map_err(ApiError::from)
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
    ) -> Result<RegisterAccepted, ApiError> {
        let registered = register(&state, req, &body.email, &body.name, &body.password).await?;
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
    ) -> Result<Json<Envelope<TokenResponse>>, ApiError> {
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
    ) -> Result<Accepted, ApiError> {
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
    ) -> Result<ResetRequested, ApiError> {
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
    ) -> Result<Json<Envelope<PasswordReset>>, ApiError> {
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
    ) -> Result<Json<Envelope<TokenResponse>>, ApiError> {
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
    ) -> Result<Json<Envelope<TokenResponse>>, ApiError> {
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
    ) -> Result<Json<Envelope<TokenResponse>>, ApiError> {
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
    ) -> Result<LoggedOut, ApiError> {
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
    ) -> Result<Json<Envelope<UserView>>, ApiError> {
        let user = users::by_id(&state.db, auth.0.sub)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
        Ok(Json(Envelope::new(
            UserView::from(&user),
            "the signed-in user",
        )))
    }
}
