//! `/api/admin/*` operations that are not about one resource.

use poem::web::Data;
use poem_openapi::{OpenApi, payload::Json};

use super::ApiTags;
use crate::{
    auth::extract::AdminAuth,
    envelope::Envelope,
    error::ApiError,
    shop_stats::{self, ShopStats},
    state::SharedState,
};

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
    ) -> Result<Json<Envelope<ShopStats>>, ApiError> {
        Ok(Json(Envelope::new(
            shop_stats::load(&state.db).await?,
            "shop statistics",
        )))
    }
}
