//! Security schemes: holding a [`BearerAuth`] or an [`AdminAuth`] argument *is* the
//! check. The token is verified (signature, algorithm, claims), its session is looked
//! up in Redis (so a logout holds on every instance), and its token version and the
//! user's role are checked against what the server holds now: a password change or a
//! demotion takes effect on the next request, whatever the token says. The claims
//! handed to a handler carry the server's role.

use poem::{Request, http::StatusCode};
use poem_openapi::{SecurityScheme, auth::Bearer};

use super::jwt::Claims;
use crate::{error::ApiError, state::SharedState};

/// Any signed-in user.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_user")]
pub struct BearerAuth(pub Claims);

/// A signed-in admin; a customer gets 403.
#[derive(SecurityScheme)]
#[oai(
    rename = "AdminBearer",
    ty = "bearer",
    bearer_format = "JWT",
    checker = "check_admin"
)]
pub struct AdminAuth(pub Claims);

fn unauthorized(message: &str) -> poem::Error {
    ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
        .with_header(poem::http::header::WWW_AUTHENTICATE, "Bearer")
        .into()
}

async fn check_user(req: &Request, bearer: Bearer) -> poem::Result<Claims> {
    let state = req
        .data::<SharedState>()
        .ok_or_else(|| poem::Error::from(ApiError::internal("state missing")))?;
    let claims = state.auth.keys.verify(&bearer.token).map_err(|e| {
        tracing::info!(reason = %e, "access token refused");
        unauthorized("the access token is invalid or expired")
    })?;
    let mut redis = state.redis.clone();
    if state
        .auth
        .session_revoked(&mut redis, claims.sid)
        .await
        .map_err(ApiError::from)?
    {
        return Err(unauthorized("the session was logged out"));
    }
    let Some(authz) = state
        .auth
        .current_authz(&state.db, &mut redis, claims.sub)
        .await
        .map_err(ApiError::from)?
    else {
        return Err(unauthorized("the account no longer exists"));
    };
    if authz.token_version != claims.ver {
        return Err(unauthorized(
            "the session ended (password or role changed); log in again",
        ));
    }
    Ok(Claims {
        role: authz.role,
        ..claims
    })
}

async fn check_admin(req: &Request, bearer: Bearer) -> poem::Result<Claims> {
    let claims = check_user(req, bearer).await?;
    if claims.role != "admin" {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "this route needs an admin",
        )
        .into());
    }
    Ok(claims)
}
