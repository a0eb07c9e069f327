//! `/api/cart`: the signed-in user's cart.

use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json};
use uuid::Uuid;

use super::ApiTags;
use crate::{
    auth::extract::BearerAuth,
    envelope::Envelope,
    error::ApiError,
    json_body::JsonBody,
    orders::{
        cart::{self, Cart, CartItem},
        service,
    },
    state::SharedState,
};
use crate::{error::Failure, routes::outcomes};

/// A cart line as clients see it.
#[derive(Debug, Clone, Object)]
pub struct CartLine {
    /// Cart item id.
    pub id: Uuid,
    /// Product id.
    pub product_id: Uuid,
    /// Product name now.
    pub product_name: String,
    /// Unit price now, in cents.
    pub unit_price_cents: i64,
    /// Currency.
    pub currency: String,
    /// Quantity.
    pub quantity: i32,
    /// `unit_price_cents * quantity`.
    pub line_total_cents: i64,
    /// Units in stock now.
    pub available: i32,
}

impl From<CartItem> for CartLine {
    fn from(i: CartItem) -> Self {
        Self {
            id: i.id,
            product_id: i.product_id,
            product_name: i.product_name,
            unit_price_cents: i.unit_price_cents,
            currency: i.currency,
            quantity: i.quantity,
            line_total_cents: i.line_total_cents,
            available: i.available,
        }
    }
}

/// A cart.
#[derive(Debug, Clone, Object)]
pub struct CartView {
    /// Lines, oldest first.
    pub items: Vec<CartLine>,
    /// Sum of the line totals, in cents.
    pub total_cents: i64,
    /// Units in the cart.
    pub item_count: i64,
    /// Currency of the total.
    pub currency: String,
}

impl From<Cart> for CartView {
    fn from(c: Cart) -> Self {
        Self {
            items: c.items.into_iter().map(CartLine::from).collect(),
            total_cents: c.total_cents,
            item_count: c.item_count,
            currency: c.currency,
        }
    }
}

/// The cart of `user` as clients see it, with `message`.
async fn answer(
    state: &SharedState,
    user: Uuid,
    message: &str,
) -> Result<Json<Envelope<CartView>>, ApiError> {
    Ok(Json(Envelope::new(
        cart::view(&state.db, user).await?.into(),
        message,
    )))
}

/// `POST /api/cart/items`.
#[derive(Debug, Object)]
pub struct AddItem {
    /// Product to add.
    pub product_id: Uuid,
    /// Units to add (1 to the per-product limit, 10 by default).
    pub quantity: i64,
}

/// `PATCH /api/cart/items/{product_id}`.
#[derive(Debug, Object)]
pub struct SetQuantity {
    /// New quantity (1 to the per-product limit).
    pub quantity: i64,
}

/// The cart endpoints.
pub struct CartApi;

#[OpenApi(prefix_path = "/api/cart", tag = "ApiTags::Cart")]
impl CartApi {
    /// The cart: lines with product name, unit price, quantity, line total, and the total.
    #[oai(path = "/", method = "get", operation_id = "cart_get")]
    async fn get(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
    ) -> Result<Json<Envelope<CartView>>, Failure<outcomes::SignedIn>> {
        Ok(answer(&state, auth.0.sub, "your cart").await?)
    }

    /// Add a product (or more of it). The product must be on sale with that much stock
    /// now (409 otherwise); at most the per-product limit in one cart (409).
    #[oai(path = "/items", method = "post", operation_id = "cart_add_item")]
    async fn add(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        body: JsonBody<AddItem>,
    ) -> Result<Json<Envelope<CartView>>, Failure<outcomes::ChangeCart>> {
        let max = state.settings.max_quantity_per_product;
        let quantity = cart::check_quantity("quantity", body.quantity, max)?;
        service::add_to_cart(&state.db, auth.0.sub, body.product_id, quantity, max).await?;
        Ok(answer(&state, auth.0.sub, "added to cart").await?)
    }

    /// Set the quantity of a product in the cart.
    #[oai(
        path = "/items/:product_id",
        method = "patch",
        operation_id = "cart_set_quantity"
    )]
    async fn set(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        product_id: Path<Uuid>,
        body: JsonBody<SetQuantity>,
    ) -> Result<Json<Envelope<CartView>>, Failure<outcomes::ChangeCart>> {
        let quantity = cart::check_quantity(
            "quantity",
            body.quantity,
            state.settings.max_quantity_per_product,
        )?;
        service::set_cart_quantity(&state.db, auth.0.sub, product_id.0, quantity).await?;
        Ok(answer(&state, auth.0.sub, "quantity updated").await?)
    }

    /// Remove a product from the cart.
    #[oai(
        path = "/items/:product_id",
        method = "delete",
        operation_id = "cart_remove_item"
    )]
    async fn remove(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        product_id: Path<Uuid>,
    ) -> Result<Json<Envelope<CartView>>, Failure<outcomes::SignedInItem>> {
        cart::remove(&state.db, auth.0.sub, product_id.0).await?;
        Ok(answer(&state, auth.0.sub, "removed from cart").await?)
    }
}
