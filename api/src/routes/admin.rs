//! `/api/admin/*` operations that are not about one resource.

use poem::web::Data;
use poem_openapi::{Enum, Object, OpenApi, param::Path, payload::Json};
use uuid::Uuid;

use super::{ApiTags, auth::UserView, outcomes};
use crate::{
    auth::extract::AdminAuth,
    envelope::Envelope,
    error::{ApiError, Failure},
    json_body::JsonBody,
    shop_stats::{self, ShopStats},
    state::SharedState,
};

/// A role a user can hold.
#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "lowercase")]
pub enum Role {
    /// Buys.
    Customer,
    /// Runs the shop.
    Admin,
}

/// `PUT /api/admin/users/{id}/role`.
#[derive(Debug, Object)]
pub struct SetRole {
    /// The new role.
    pub role: Role,
}

/// Admin-only operations.
pub struct AdminApi;

#[OpenApi(prefix_path = "/api/admin", tag = "ApiTags::Admin")]
impl AdminApi {
    /// Shop statistics: users, orders by status, products (out of stock, low stock),
    /// revenue in cents, outbox backlog and dead-lettered messages. Read from
    /// PostgreSQL in one statement, never from a cache. Admin only.
    #[oai(path = "/stats", method = "get", operation_id = "admin_stats")]
    async fn stats(
        &self,
        state: Data<&SharedState>,
        _admin: AdminAuth,
    ) -> Result<Json<Envelope<ShopStats>>, Failure<outcomes::AdminRead>> {
        Ok(Json(Envelope::new(
            shop_stats::load(&state.db).await?,
            "shop statistics",
        )))
    }

    /// Set a user's role. Every session of the user ends on every instance at its
    /// next request (a demoted admin loses admin routes at once). 409 `OWN_ROLE` for
    /// the caller's own account, 404 for an unknown user. Admin only.
    #[oai(
        path = "/users/:id/role",
        method = "put",
        operation_id = "admin_users_set_role"
    )]
    async fn set_role(
        &self,
        state: Data<&SharedState>,
        admin: AdminAuth,
        id: Path<Uuid>,
        body: JsonBody<SetRole>,
    ) -> Result<Json<Envelope<UserView>>, Failure<outcomes::SetRole>> {
        let role = match body.role {
            Role::Customer => "customer",
            Role::Admin => "admin",
        };
        let mut redis = state.redis.clone();
        let user = state
            .auth
            .set_role(&state.db, &mut redis, admin.0.sub, id.0, role)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
        Ok(Json(Envelope::new(UserView::from(&user), "role set")))
    }
}
