//! The Express original's routes and response shapes, so its frontend works against
//! this API unchanged. A thin layer: every handler parses the old shape, calls the
//! same domain code as the canonical `/api/...` route, and maps the answer back.
//! One module per resource; [`LegacyApi`] serves them all, in the order the OpenAPI
//! document lists them.
//!
//! Deliberately stricter than the original: uploads and every `/stats/*` route need an
//! admin token, and a cart item can only be changed by its owner. Errors keep the one
//! error shape; it carries both `error` and `message` strings, which is what the old
//! frontend reads (`{error}` after a wrong code, `{message}` elsewhere).

mod cart;
mod orders;
mod products;
mod stats;
mod users;

use std::collections::HashMap;

use poem::{endpoint::BoxEndpoint, http::Method};
use poem_openapi::{
    OpenApi,
    registry::{MetaApi, Registry},
};

/// Every resource of the original shop, in the order of the OpenAPI document.
type Resources = (
    users::LegacyUsersApi,
    products::LegacyProductsApi,
    cart::LegacyCartApi,
    orders::LegacyOrdersApi,
    stats::LegacyStatsApi,
);

/// The original shop's routes.
pub struct LegacyApi;

impl OpenApi for LegacyApi {
    fn meta() -> Vec<MetaApi> {
        Resources::meta()
    }

    fn register(registry: &mut Registry) {
        Resources::register(registry);
    }

    fn add_routes(self, route_table: &mut HashMap<String, HashMap<Method, BoxEndpoint<'static>>>) {
        (
            users::LegacyUsersApi,
            products::LegacyProductsApi,
            cart::LegacyCartApi,
            orders::LegacyOrdersApi,
            stats::LegacyStatsApi,
        )
            .add_routes(route_table);
    }
}

/// Cents to units: exact for every amount the shop can hold (< 2^53 cents).
fn units(cents: i64) -> f64 {
    cents as f64 / 100.0
}
