//! Old-style cart routes: add, list and change items; a cart item can only be
//! changed by its owner.

use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json};
use uuid::Uuid;

use crate::{
    auth::extract::BearerAuth,
    error::ApiError,
    json_body::JsonBody,
    money::format_cents,
    orders::{
        cart::{self, CartItem},
        service,
    },
    routes::ApiTags,
    state::SharedState,
};
use crate::{error::Failure, routes::outcomes};

/// `POST /products/addtocart`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct LegacyAddToCart {
    /// Product to add.
    pub product_id: Uuid,
    /// Units to add (default 1).
    pub quantity: Option<i64>,
}

/// `PUT /products/updatecartitem/{id}`.
#[derive(Debug, Object)]
pub struct LegacyQuantity {
    /// New quantity, at least 1.
    pub quantity: i64,
}

/// A message.
#[derive(Debug, Object)]
pub struct LegacyMessage {
    /// What happened.
    pub message: String,
}

/// A cart item, old style.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct LegacyCartItem {
    /// Cart item id (for `updatecartitem`).
    pub id: Uuid,
    /// Product id.
    pub product_id: Uuid,
    /// Quantity.
    pub quantity: i32,
    /// Product name now.
    pub product_name: String,
    /// Unit price now, as a decimal string.
    pub product_price: String,
}

impl From<CartItem> for LegacyCartItem {
    fn from(l: CartItem) -> Self {
        Self {
            id: l.id,
            product_id: l.product_id,
            quantity: l.quantity,
            product_name: l.product_name,
            product_price: format_cents(l.unit_price_cents),
        }
    }
}

/// The original shop's cart routes.
pub struct LegacyCartApi;

#[OpenApi(tag = "ApiTags::Legacy")]
impl LegacyCartApi {
    /// Add a product to my cart (old route). Use `POST /api/cart/items`.
    #[oai(
        path = "/products/addtocart",
        method = "post",
        operation_id = "legacy_add_to_cart",
        deprecated
    )]
    async fn add_to_cart(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        body: JsonBody<LegacyAddToCart>,
    ) -> Result<Json<LegacyMessage>, Failure<outcomes::LegacyCart>> {
        let max = state.settings.max_quantity_per_product;
        let quantity = cart::check_quantity("quantity", body.quantity.unwrap_or(1), max)?;
        service::add_to_cart(&state.db, auth.0.sub, body.product_id, quantity, max).await?;
        Ok(Json(LegacyMessage {
            message: "added to cart".into(),
        }))
    }

    /// My cart items (old route); 404 when I never had a cart. Use `GET /api/cart`.
    #[oai(
        path = "/products/cartitems",
        method = "get",
        operation_id = "legacy_cart_items",
        deprecated
    )]
    async fn cart_items(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
    ) -> Result<Json<Vec<LegacyCartItem>>, Failure<outcomes::LegacyCart>> {
        if !cart::exists(&state.db, auth.0.sub).await? {
            return Err(ApiError::not_found("cart").into());
        }
        let lines = cart::lines(&state.db, auth.0.sub).await?;
        Ok(Json(lines.into_iter().map(LegacyCartItem::from).collect()))
    }

    /// Set the quantity of one of my cart items (old route); someone else's item is
    /// 404. Use `PATCH /api/cart/items/{product_id}`.
    #[oai(
        path = "/products/updatecartitem/:id",
        method = "put",
        operation_id = "legacy_update_cart_item",
        deprecated
    )]
    async fn update_cart_item(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        /// Cart item id.
        id: Path<Uuid>,
        body: JsonBody<LegacyQuantity>,
    ) -> Result<Json<LegacyCartItem>, Failure<outcomes::LegacyCart>> {
        let quantity = cart::check_quantity(
            "quantity",
            body.quantity,
            state.settings.max_quantity_per_product,
        )?;
        service::set_cart_item_quantity(&state.db, auth.0.sub, id.0, quantity).await?;
        let line = cart::lines(&state.db, auth.0.sub)
            .await?
            .into_iter()
            .find(|l| l.id == id.0)
            .ok_or_else(|| ApiError::not_found("cart item"))?;
        Ok(Json(line.into()))
    }
}
