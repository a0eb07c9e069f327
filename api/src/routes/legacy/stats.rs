//! Old-style `/stats/*` routes (admin only; the original was open).

use poem::web::Data;
use poem_openapi::{Object, OpenApi, payload::Json};

use super::{products::LegacyProduct, units};
use crate::{
    auth::extract::AdminAuth,
    catalogue::{model::ProductView, repo},
    error::ApiError,
    routes::ApiTags,
    shop_stats::{self, ShopStats},
    state::SharedState,
};
use crate::{error::Failure, routes::outcomes};

/// A count.
#[derive(Debug, Object)]
pub struct LegacyTotal {
    /// The number.
    pub total: i64,
}

/// An amount.
#[derive(Debug, Object)]
pub struct LegacyAmount {
    /// Revenue in currency units, exact to the cent.
    pub total: f64,
}

async fn stats(state: &SharedState) -> Result<ShopStats, ApiError> {
    Ok(shop_stats::load(&state.db).await?)
}

fn total(n: i64) -> Json<LegacyTotal> {
    Json(LegacyTotal { total: n })
}

/// The original shop's statistics routes.
pub struct LegacyStatsApi;

#[OpenApi(tag = "ApiTags::Legacy")]
impl LegacyStatsApi {
    /// Number of users (old route). Admin only. Use `GET /api/admin/stats`.
    #[oai(
        path = "/stats/totalusers",
        method = "get",
        operation_id = "legacy_stats_total_users",
        deprecated
    )]
    async fn total_users(
        &self,
        state: Data<&SharedState>,
        _admin: AdminAuth,
    ) -> Result<Json<LegacyTotal>, Failure<outcomes::AdminRead>> {
        Ok(total(stats(&state).await?.users.total))
    }

    /// Number of orders (old route). Admin only.
    #[oai(
        path = "/stats/totalorders",
        method = "get",
        operation_id = "legacy_stats_total_orders",
        deprecated
    )]
    async fn total_orders(
        &self,
        state: Data<&SharedState>,
        _admin: AdminAuth,
    ) -> Result<Json<LegacyTotal>, Failure<outcomes::AdminRead>> {
        Ok(total(stats(&state).await?.orders.total))
    }

    /// Number of pending orders (old route). Admin only.
    #[oai(
        path = "/stats/totalpendingorders",
        method = "get",
        operation_id = "legacy_stats_pending_orders",
        deprecated
    )]
    async fn total_pending_orders(
        &self,
        state: Data<&SharedState>,
        _admin: AdminAuth,
    ) -> Result<Json<LegacyTotal>, Failure<outcomes::AdminRead>> {
        Ok(total(stats(&state).await?.orders.pending))
    }

    /// Number of completed orders (old route). Admin only.
    #[oai(
        path = "/stats/totalcompletedorders",
        method = "get",
        operation_id = "legacy_stats_completed_orders",
        deprecated
    )]
    async fn total_completed_orders(
        &self,
        state: Data<&SharedState>,
        _admin: AdminAuth,
    ) -> Result<Json<LegacyTotal>, Failure<outcomes::AdminRead>> {
        Ok(total(stats(&state).await?.orders.completed))
    }

    /// Number of products on sale (old route). Admin only.
    #[oai(
        path = "/stats/totalproducts",
        method = "get",
        operation_id = "legacy_stats_total_products",
        deprecated
    )]
    async fn total_products(
        &self,
        state: Data<&SharedState>,
        _admin: AdminAuth,
    ) -> Result<Json<LegacyTotal>, Failure<outcomes::AdminRead>> {
        Ok(total(stats(&state).await?.products.total))
    }

    /// Revenue of all orders that are not cancelled, in currency units (old route):
    /// in the shop's main currency (the one with the most orders), never a sum across
    /// currencies. Admin only.
    #[oai(
        path = "/stats/revenue",
        method = "get",
        operation_id = "legacy_stats_revenue",
        deprecated
    )]
    async fn revenue(
        &self,
        state: Data<&SharedState>,
        _admin: AdminAuth,
    ) -> Result<Json<LegacyAmount>, Failure<outcomes::AdminRead>> {
        Ok(Json(LegacyAmount {
            total: units(stats(&state).await?.revenue.main_total_cents()),
        }))
    }

    /// Every product on sale, read from PostgreSQL (old route). Admin only.
    #[oai(
        path = "/stats/products",
        method = "get",
        operation_id = "legacy_stats_products",
        deprecated
    )]
    async fn stats_products(
        &self,
        state: Data<&SharedState>,
        _admin: AdminAuth,
    ) -> Result<Json<Vec<LegacyProduct>>, Failure<outcomes::AdminRead>> {
        let products = repo::all_active(&state.db).await?;
        Ok(Json(
            products
                .into_iter()
                .map(ProductView::from)
                .map(LegacyProduct::from)
                .collect(),
        ))
    }
}
