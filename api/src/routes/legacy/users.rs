//! Old-style sign-up and sign-in: `/api/userRegister`, `/api/verify-otp`,
//! `/api/userLogin`, answering `token: "Bearer <jwt>"` as the Express original did.

use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use uuid::Uuid;

use crate::{
    addresses::model::PendingAddress, auth::service::IssuedTokens, json_body::JsonBody,
    routes::ApiTags, routes::credentials, state::SharedState,
};
use crate::{error::Failure, routes::outcomes};

/// `POST /api/userRegister`.
#[derive(Object)]
pub struct LegacyRegisterRequest {
    /// Display name.
    pub name: String,
    /// E-mail address; the code is sent there.
    pub email: String,
    /// The same rules as `POST /api/auth/register`.
    pub password: String,
    /// Kept with the address, if it is a valid phone (4 to 40 digits, spaces, `+`,
    /// `-`, `(`, `)`); otherwise dropped, never refused.
    pub phone: Option<String>,
    /// Free text: once the e-mail is verified, the account's default shipping and
    /// billing address (as `line1`, on one line, cut to 200 characters; no city or
    /// postal code; the shop's default country). Never refused.
    pub address: Option<String>,
}

/// A registration.
#[derive(Debug, Object)]
pub struct LegacyUserRef {
    /// Opaque registration id (not the account id, which `verify-otp` returns).
    pub id: Uuid,
    /// E-mail address.
    pub email: String,
}

/// 201 of `POST /api/userRegister`.
#[derive(Debug, Object)]
pub struct LegacyRegistered {
    /// What happened.
    pub message: String,
    /// The pending account.
    pub user: LegacyUserRef,
}

/// `POST /api/verify-otp`.
#[derive(Object)]
pub struct LegacyVerifyRequest {
    /// The address the code was sent to.
    pub email: String,
    /// The 6-digit code.
    pub otp: String,
}

/// `POST /api/userLogin`.
#[derive(Object)]
pub struct LegacyLoginRequest {
    /// E-mail address.
    pub email: String,
    /// Password.
    pub password: String,
}

/// The signed-in user, old style.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct LegacyUser {
    /// Account id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// E-mail address.
    pub email: String,
    /// Whether the account is an admin.
    pub is_admin: bool,
}

/// 200 of verify and login.
#[derive(Object)]
pub struct LegacySession {
    /// What happened.
    pub message: String,
    /// `"Bearer <jwt>"`: send it as-is in `Authorization`.
    pub token: String,
    /// The user.
    pub user: LegacyUser,
}

impl LegacySession {
    fn new(message: &str, tokens: IssuedTokens) -> Self {
        Self {
            message: message.to_owned(),
            token: format!("Bearer {}", tokens.access_token),
            user: LegacyUser {
                id: tokens.user.id,
                name: tokens.user.name,
                email: tokens.user.email,
                is_admin: tokens.user.role == "admin",
            },
        }
    }
}

/// 201 of `POST /api/userRegister`.
#[derive(ApiResponse)]
pub enum Registered {
    /// The account awaits verification.
    #[oai(status = 201)]
    Created(Json<LegacyRegistered>),
}

/// The original shop's sign-up and sign-in routes.
pub struct LegacyUsersApi;

#[OpenApi(tag = "ApiTags::Legacy")]
impl LegacyUsersApi {
    /// Register (old route): 201; the code goes out by e-mail. Same answer whether or
    /// not the address is taken: `user.id` identifies the registration (the same for
    /// every registration of the address), never an account; the account id comes
    /// with `verify-otp`, and with it `address` (and a valid `phone`) become the
    /// account's default address. Use `POST /api/auth/register`.
    #[oai(
        path = "/api/userRegister",
        method = "post",
        operation_id = "legacy_user_register",
        deprecated
    )]
    async fn register(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        body: JsonBody<LegacyRegisterRequest>,
    ) -> Result<Registered, Failure<outcomes::LegacyCode>> {
        let address = PendingAddress::from_legacy(
            body.address.as_deref(),
            body.phone.as_deref(),
            &state.settings.orders.default_country,
        );
        let email = credentials::register(
            &state,
            req,
            &body.email,
            &body.name,
            &body.password,
            address,
        )
        .await?
        .email;
        Ok(Registered::Created(Json(LegacyRegistered {
            message: "registered; a verification code is on its way by e-mail".into(),
            user: LegacyUserRef {
                id: state.auth.registration_id(&email),
                email: email.as_str().to_owned(),
            },
        })))
    }

    /// Verify the e-mailed code (old route): 200 with `token: "Bearer <jwt>"`. Wrong
    /// code 401, no pending code 400. Weaker than `POST /api/auth/verify-otp`, which
    /// names its registration: when someone else also registered the address, the
    /// inbox owner is verified and signed in but no password is applied (set one with
    /// `POST /api/auth/password/forgot`), so no stranger's password is ever active.
    #[oai(
        path = "/api/verify-otp",
        method = "post",
        operation_id = "legacy_verify_otp",
        deprecated
    )]
    async fn verify_otp(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        body: JsonBody<LegacyVerifyRequest>,
    ) -> Result<Json<LegacySession>, Failure<outcomes::LegacyCode>> {
        let tokens = credentials::verify_otp(
            &state,
            req,
            &body.email,
            crate::auth::service::Proof::CodeOnly,
            &body.otp,
        )
        .await?;
        Ok(Json(LegacySession::new("e-mail verified", tokens)))
    }

    /// Log in (old route): 200 with `token: "Bearer <jwt>"`; 401 for unknown e-mail
    /// or wrong password alike, 403 when unverified. Use `POST /api/auth/login`.
    #[oai(
        path = "/api/userLogin",
        method = "post",
        operation_id = "legacy_user_login",
        deprecated
    )]
    async fn login(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        body: JsonBody<LegacyLoginRequest>,
    ) -> Result<Json<LegacySession>, Failure<outcomes::LegacyLogin>> {
        let LegacyLoginRequest { email, password } = body.0;
        let tokens = credentials::login(&state, req, &email, password).await?;
        Ok(Json(LegacySession::new("logged in", tokens)))
    }
}

redacted_debug!(LegacyRegisterRequest {
    shown: [name, email, phone, address],
    hidden: [password]
});
redacted_debug!(LegacyVerifyRequest {
    shown: [email],
    hidden: [otp]
});
redacted_debug!(LegacyLoginRequest {
    shown: [email],
    hidden: [password]
});
redacted_debug!(LegacySession {
    shown: [message, user],
    hidden: [token]
});
