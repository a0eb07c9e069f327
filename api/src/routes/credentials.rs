//! Credentials from raw request fields: what the canonical auth routes and the legacy
//! routes both do before calling the auth service (parse and validate the fields,
//! find the client's address and the request id). Neither route module imports the
//! other; both come here.

use poem::Request;

use crate::{
    addresses::model::PendingAddress,
    auth::{
        client_ip::client_ip,
        service::{IssuedTokens, Proof, Registered, Registration},
    },
    domain::{Email, NewPassword, OtpCode, PersonName},
    error::ApiError,
    middleware::RequestId,
    state::SharedState,
};

/// The request id the middleware gave this request.
pub(crate) fn request_id(req: &Request) -> Option<String> {
    req.data::<RequestId>().map(|r| r.0.clone())
}

/// Registration from raw fields, shared by the canonical and the legacy route:
/// validates them and registers (with the legacy route's `address`, if any).
pub(crate) async fn register(
    state: &SharedState,
    req: &Request,
    email: &str,
    name: &str,
    password: &str,
    address: Option<PendingAddress>,
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
                address,
            },
            ip,
            request_id(req),
        )
        .await
        .map_err(ApiError::from)
}

/// Code verification from raw fields, shared by the canonical route (with the
/// registration's token) and the legacy route (without).
pub(crate) async fn verify_otp(
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
pub(crate) async fn login(
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
