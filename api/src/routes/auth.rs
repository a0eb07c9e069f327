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
        service::{IssuedTokens, Registration},
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
    /// 8 characters to 72 bytes.
    pub password: String,
    /// Display name, 1 to 100 characters.
    pub name: String,
}

/// `POST /api/auth/verify-otp`.
#[derive(Debug, Object)]
pub struct VerifyOtpRequest {
    /// The address the code was sent to.
    pub email: String,
    /// The 6-digit code.
    pub otp: String,
}

/// `POST /api/auth/resend-otp`.
#[derive(Debug, Object)]
pub struct ResendOtpRequest {
    /// The address of the pending account.
    pub email: String,
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

/// 202 for code requests.
#[derive(ApiResponse)]
pub enum Accepted {
    /// A code is on its way if the address has a pending account.
    #[oai(status = 202)]
    Accepted(Json<Envelope<CodeSent>>),
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
/// validates them and registers; returns the normalized address.
pub(super) async fn register(
    state: &SharedState,
    req: &Request,
    email: &str,
    name: &str,
    password: &str,
) -> Result<Email, ApiError> {
    let email = Email::parse("email", email)?;
    let name = PersonName::parse("name", name)?;
    let password = NewPassword::parse("password", password)?;
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
        .await?;
    Ok(email)
}

/// Code verification from raw fields, shared by the canonical and the legacy route.
pub(super) async fn verify_otp(
    state: &SharedState,
    req: &Request,
    email: &str,
    otp: &str,
) -> Result<IssuedTokens, ApiError> {
    let email = Email::parse("email", email)?;
    let code = OtpCode::parse("otp", otp)?;
    let mut redis = state.redis.clone();
    state
        .auth
        .verify_otp(&state.db, &mut redis, email, code, request_id(req))
        .await
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
}

#[OpenApi(prefix_path = "/api/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Register: creates an account awaiting verification and e-mails a 6-digit code.
    /// The answer is the same whether or not the address is taken.
    #[oai(path = "/register", method = "post", operation_id = "auth_register")]
    async fn register(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        body: JsonBody<RegisterRequest>,
    ) -> Result<Accepted, ApiError> {
        let email = register(&state, req, &body.email, &body.name, &body.password).await?;
        Ok(code_sent(&state, &email))
    }

    /// Verify the e-mailed code: the account is verified and signed in.
    /// 401 `OTP_INVALID` for a wrong code (5 tries), 400 `OTP_NOT_FOUND` when no code is pending.
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
        let tokens = verify_otp(&state, req, &body.email, &body.otp).await?;
        Ok(Json(Envelope::new(tokens.into(), "e-mail verified")))
    }

    /// Send a new code to a pending account (cooldown and hourly caps apply: 429 with
    /// `Retry-After`).
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
            .resend(&state.db, &mut redis, email.clone(), ip, request_id(req))
            .await?;
        Ok(code_sent(&state, &email))
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
