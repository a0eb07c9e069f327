//! Old-style order placement: the same transaction as `POST /api/orders`, with the
//! original's 400 for an empty cart or missing stock.

use poem::{Request, http::StatusCode, web::Data};
use poem_openapi::{Object, OpenApi, payload::Json};
use uuid::Uuid;

use super::units;
use crate::{
    auth::extract::BearerAuth,
    error::ApiError,
    middleware::RequestId,
    orders::{place::Buyer, service},
    routes::ApiTags,
    state::SharedState,
};
use crate::{error::Failure, routes::outcomes};

/// 200 of `POST /products/placeorder`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct LegacyOrderPlaced {
    /// What happened.
    pub message: String,
    /// The new order's id.
    pub order_id: Uuid,
    /// Total in currency units, exact to the cent (e.g. `25.5`).
    pub total_amount: f64,
}

/// The old API answered 400 where the canonical one answers 409/422.
fn as_bad_request(mut e: ApiError) -> ApiError {
    if matches!(
        e.code,
        "CART_EMPTY" | "INSUFFICIENT_STOCK" | "PRODUCT_UNAVAILABLE"
    ) {
        e.status = StatusCode::BAD_REQUEST;
    }
    e
}

/// The original shop's order route.
pub struct LegacyOrdersApi;

#[OpenApi(tag = "ApiTags::Legacy")]
impl LegacyOrdersApi {
    /// Place an order from my cart (old route): the same transaction as
    /// `POST /api/orders`. Empty cart or not enough stock: 400 naming the product.
    #[oai(
        path = "/products/placeorder",
        method = "post",
        operation_id = "legacy_place_order",
        deprecated
    )]
    async fn place_order(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        req: &Request,
    ) -> Result<Json<LegacyOrderPlaced>, Failure<outcomes::LegacyPlaceOrder>> {
        let request_id = req.data::<RequestId>().map(|r| r.0.clone());
        // The old shop had no payment step and no address rule: its orders take the
        // default shipping address when there is one, and never expire.
        let buyer = Buyer {
            id: auth.0.sub,
            note: None,
            request_id,
            shipping_address: None,
            address_required: false,
            expires_in: None,
        };
        let order = service::place_order(&state.db, &state.catalogue, buyer, None)
            .await
            .map_err(|e| as_bad_request(e.into()))?;
        Ok(Json(LegacyOrderPlaced {
            message: "order placed".into(),
            order_id: order.id,
            total_amount: units(order.total_cents),
        }))
    }
}
