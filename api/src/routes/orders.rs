//! `/api/orders`: place an order from the cart, list mine, read one.

use chrono::{DateTime, Utc};
use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ApiTags;
use crate::{
    auth::extract::BearerAuth,
    envelope::{Envelope, Pagination},
    error::ApiError,
    json_body::OptionalJsonBody,
    middleware::RequestId,
    orders::{
        idempotency::{self, Claim},
        lifecycle::{self, Actor, Change, HistoryEntry, Transition},
        place::Buyer,
        repo::{self, Order, OrderItem, ShippingAddress},
        service::{self, StoredAnswer},
    },
    state::SharedState,
};
use crate::{error::Failure, routes::outcomes};

/// An order line with its price snapshot.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct OrderLine {
    /// Product id.
    pub product_id: Uuid,
    /// Product name when ordered.
    pub name: String,
    /// Unit price when ordered, in cents.
    pub unit_price_cents: i64,
    /// Quantity.
    pub quantity: i32,
    /// `unit_price_cents * quantity`.
    pub line_total_cents: i64,
}

impl From<OrderItem> for OrderLine {
    fn from(i: OrderItem) -> Self {
        Self {
            product_id: i.product_id,
            name: i.name,
            unit_price_cents: i.unit_price_cents,
            quantity: i.quantity,
            line_total_cents: i.line_total_cents,
        }
    }
}

/// An order.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct OrderView {
    /// Id.
    pub id: Uuid,
    /// Short human order number (e.g. 1042), unique, shown in the confirmation
    /// e-mail as "Order #1042". Absent only from a replayed `Idempotency-Key` answer
    /// stored before order numbers existed.
    #[oai(skip_serializing_if_is_none)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<i64>,
    /// Buyer.
    pub user_id: Uuid,
    /// `pending` (awaiting payment), `paid`, `shipped`, `delivered`, `cancelled` or
    /// `refunded` (see `POST /api/orders/{id}/cancel` and the admin transitions).
    pub status: String,
    /// The buyer's note; `null` when none.
    #[oai(nullable)]
    pub note: Option<String>,
    /// Lines.
    pub items: Vec<OrderLine>,
    /// Sum of the lines, in cents.
    pub total_cents: i64,
    /// Currency.
    pub currency: String,
    /// When it was placed.
    pub created_at: DateTime<Utc>,
    /// Where it ships to, as it was when the order was placed (absent for a pickup
    /// order).
    #[oai(skip_serializing_if_is_none)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_address: Option<ShippingAddressView>,
    /// While unpaid: when it is cancelled if payment has not arrived (absent: it
    /// does not expire).
    #[oai(skip_serializing_if_is_none)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Every change of its status, oldest first (the detail only).
    #[oai(skip_serializing_if_is_none)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<OrderHistoryView>>,
}

/// A postal address as an order keeps it.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct ShippingAddressView {
    /// Recipient.
    pub name: String,
    /// Street and number (for an address from the legacy registration, the whole
    /// address as typed).
    pub line1: String,
    /// More of the street address; `null` when none.
    #[oai(nullable)]
    pub line2: Option<String>,
    /// City.
    pub city: String,
    /// State, province or region; `null` when none.
    #[oai(nullable)]
    pub region: Option<String>,
    /// Postal code.
    pub postal_code: String,
    /// ISO 3166 alpha-2 country code.
    pub country: String,
    /// Phone for the carrier; `null` when none.
    #[oai(nullable)]
    pub phone: Option<String>,
}

impl From<ShippingAddress> for ShippingAddressView {
    fn from(a: ShippingAddress) -> Self {
        Self {
            name: a.name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            region: a.region,
            postal_code: a.postal_code,
            country: a.country,
            phone: a.phone,
        }
    }
}

/// One change of an order's status.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct OrderHistoryView {
    /// The status before; `null` for the placement.
    #[oai(nullable)]
    pub from_status: Option<String>,
    /// The status after.
    pub to_status: String,
    /// `customer`, `admin`, `system` (the expiry of an unpaid order) or `provider`
    /// (a payment provider's webhook).
    pub actor: String,
    /// Why, when given (an admin's reason, a tracking reference, a payment id);
    /// `null` otherwise.
    #[oai(nullable)]
    pub reason: Option<String>,
    /// The request that made the change; `null` for the expiry job and older rows.
    #[oai(nullable)]
    pub request_id: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

impl From<HistoryEntry> for OrderHistoryView {
    fn from(h: HistoryEntry) -> Self {
        Self {
            from_status: h.from_status,
            to_status: h.to_status,
            actor: h.actor,
            reason: h.reason,
            request_id: h.request_id,
            at: h.created_at,
        }
    }
}

impl From<Order> for OrderView {
    fn from(o: Order) -> Self {
        Self {
            id: o.id,
            number: Some(o.number),
            user_id: o.user_id,
            status: o.status,
            note: o.note,
            items: o.items.into_iter().map(OrderLine::from).collect(),
            total_cents: o.total_cents,
            currency: o.currency,
            created_at: o.created_at,
            shipping_address: o.shipping_address.map(ShippingAddressView::from),
            expires_at: o.expires_at,
            history: None,
        }
    }
}

impl OrderView {
    /// The view with its history.
    pub fn with_history(mut self, history: Vec<HistoryEntry>) -> Self {
        self.history = Some(history.into_iter().map(OrderHistoryView::from).collect());
        self
    }
}

/// The body stored under an `Idempotency-Key` for a placed order: the 201 body.
fn placed_body(order: &Order) -> serde_json::Value {
    poem_openapi::types::ToJSON::to_json(&Envelope::new(
        OrderView::from(order.clone()),
        "order placed",
    ))
    .unwrap_or_default()
}

/// `POST /api/orders` (the body is optional).
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct PlaceOrderRequest {
    /// A note for the shop, at most 500 characters.
    pub note: Option<String>,
    /// One of my addresses (`/api/me/addresses`) to ship to; without it, my default
    /// shipping address. Its fields are copied into the order.
    pub shipping_address_id: Option<Uuid>,
}

/// 201 with the new order.
#[derive(ApiResponse)]
pub enum Placed {
    /// The order was placed; stock is reserved and the confirmation e-mail is on its way.
    #[oai(status = 201)]
    Created(
        Json<Envelope<OrderView>>,
        /// `true` when this is the stored answer to an earlier request with the same
        /// `Idempotency-Key`.
        #[oai(header = "Idempotent-Replayed")]
        Option<String>,
    ),
}

/// Refusals of an order that are stored under its `Idempotency-Key` and replayed, like
/// a 201: the answer to the first request, whatever happens to the stock later.
const STORED_REFUSALS: [&str; 3] = ["CART_EMPTY", "INSUFFICIENT_STOCK", "MIXED_CURRENCIES"];

/// The stored refusal `body` (the error shape) as the error to send again.
fn replayed_refusal(status: u16, body: &serde_json::Value) -> ApiError {
    let code = STORED_REFUSALS
        .into_iter()
        .find(|c| body["error"].as_str() == Some(*c));
    match (code, poem::http::StatusCode::from_u16(status)) {
        (Some(code), Ok(status)) => {
            ApiError::new(status, code, body["message"].as_str().unwrap_or_default())
                .with_details(body["details"].clone())
                .with_header(
                    poem::http::HeaderName::from_static("idempotent-replayed"),
                    "true",
                )
        }
        _ => ApiError::internal(format!("unexpected stored answer {status}")),
    }
}

/// What the `Idempotency-Key` of a request decided.
enum KeyClaim {
    /// Place the order; with the claimed key and its fence, if the request has a key.
    Proceed(Option<(String, Uuid)>),
    /// The stored 201 of an earlier request with this key.
    Replay(Box<Placed>),
}

/// Claims the request's `Idempotency-Key` (read from the raw header), if any; a
/// stored refusal comes back as the error to send again.
async fn claim_key(
    state: &SharedState,
    user: Uuid,
    req: &Request,
    raw: &[u8],
) -> Result<KeyClaim, ApiError> {
    let key = req
        .headers()
        .get("idempotency-key")
        .map(|v| idempotency::parse_key_bytes(v.as_bytes()))
        .transpose()?;
    let Some(key) = key else {
        return Ok(KeyClaim::Proceed(None));
    };
    match idempotency::claim(&state.db, user, &key, &idempotency::request_hash(raw)).await? {
        Claim::Proceed(fence) => Ok(KeyClaim::Proceed(Some((key, fence)))),
        Claim::Replay { status, body } => {
            if status == 201 {
                let envelope: Envelope<OrderView> =
                    poem_openapi::types::ParseFromJSON::parse_from_json(Some(body))
                        .map_err(|e| ApiError::internal(e.into_message()))?;
                return Ok(KeyClaim::Replay(Box::new(Placed::Created(
                    Json(envelope),
                    Some("true".into()),
                ))));
            }
            Err(replayed_refusal(status, &body))
        }
    }
}

/// After a refused order: a stored refusal is kept under the key (an answer, not an
/// accident: a retry with this key gets it again, even if stock came back meanwhile);
/// otherwise nothing was written and nothing was decided, so the key is released
/// and the client may retry.
async fn settle_refused_key(
    state: &SharedState,
    user: Uuid,
    key: &str,
    fence: Uuid,
    e: &ApiError,
) -> Result<(), ApiError> {
    if STORED_REFUSALS.contains(&e.code) {
        idempotency::complete(
            &state.db,
            user,
            key,
            fence,
            e.status.as_u16(),
            &e.body_json(),
        )
        .await?;
    } else {
        idempotency::release(&state.db, user, key, fence).await?;
    }
    Ok(())
}

/// The order endpoints.
pub struct OrdersApi;

#[OpenApi(prefix_path = "/api/orders", tag = "ApiTags::Orders")]
impl OrdersApi {
    /// Place an order from the cart. 422 `CART_EMPTY`; 409 `INSUFFICIENT_STOCK` naming
    /// each product and what is left (nothing is written). With an `Idempotency-Key`,
    /// the first answer (the order, or one of those refusals) is replayed for 24 hours
    /// with `Idempotent-Replayed: true`; the same key with another body is 422, and
    /// while the first request runs, 409.
    #[oai(path = "/", method = "post", operation_id = "orders_place")]
    async fn place(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        req: &Request,
        /// A client-chosen key (1 to 255 printable characters) that makes retries safe.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        body: OptionalJsonBody<PlaceOrderRequest>,
    ) -> Result<Placed, Failure<outcomes::PlaceOrder>> {
        let user = auth.0.sub;
        let address = body.0.as_ref().and_then(|b| b.shipping_address_id);
        let note = optional_text("note", body.0.and_then(|b| b.note))?;
        // The request, canonically: two requests differ if their notes or addresses
        // differ (a request without an address hashes as before addresses existed).
        let raw = match address {
            None => serde_json::to_vec(&note),
            Some(a) => serde_json::to_vec(&(&note, a)),
        }
        .unwrap_or_default();
        // Read raw (in `claim_key`): a key poem cannot read as text (non-ASCII) must be
        // refused, not taken for no key at all.
        let _ = idempotency_key;
        let claim = match claim_key(&state, user, req, &raw).await? {
            KeyClaim::Proceed(claim) => claim,
            KeyClaim::Replay(placed) => {
                // The first answer may have been cut off before its stock-version bump
                // (the client gone); one more costs a Redis INCR.
                state.catalogue.stock_moved().await;
                return Ok(*placed);
            }
        };
        let stored = claim.as_ref().map(|(key, fence)| StoredAnswer {
            key,
            fence: *fence,
            body: &placed_body,
        });
        let orders = &state.settings.orders;
        let result = service::place_order(
            &state.db,
            &state.catalogue,
            Buyer {
                id: user,
                note: note.as_deref(),
                request_id: req.data::<RequestId>().map(|r| r.0.clone()),
                shipping_address: address,
                address_required: !orders.pickup_only,
                expires_in: orders.payment_timeout,
            },
            stored,
        )
        .await
        .map_err(ApiError::from);
        if let (Err(e), Some((key, fence))) = (&result, &claim)
            && let Err(settling) = settle_refused_key(&state, user, key, *fence, e).await
        {
            // The order's own error is the answer; the key's failure is only logged
            // (it expires with its claim).
            tracing::warn!(error = %settling, "could not settle the idempotency key");
        }
        let order = result?;
        Ok(Placed::Created(
            Json(Envelope::new(order.into(), "order placed")),
            None,
        ))
    }

    /// My orders, newest first.
    #[oai(path = "/", method = "get", operation_id = "orders_list")]
    async fn list(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        /// 1-based page (default 1); `page × page_size` at most 10,000 (422 beyond).
        page: Query<Option<u64>>,
        /// Items per page, 1 to 100 (default 20).
        page_size: Query<Option<u64>>,
    ) -> Result<Json<Envelope<Vec<OrderView>>>, Failure<outcomes::SignedIn>> {
        let (page, page_size) = order_page(page.0, page_size.0)?;
        let (orders, total) = repo::mine(&state.db, auth.0.sub, page, page_size).await?;
        Ok(Json(Envelope::paged(
            orders.into_iter().map(OrderView::from).collect(),
            "your orders",
            Pagination {
                page,
                page_size,
                total,
            },
        )))
    }

    /// One order: mine, or any order for an admin. Someone else's is 404.
    #[oai(path = "/:id", method = "get", operation_id = "orders_get")]
    async fn get(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Json<Envelope<OrderView>>, Failure<outcomes::SignedInItem>> {
        let order = repo::get(&state.db, id.0, auth.0.sub, auth.0.role == "admin")
            .await?
            .ok_or_else(|| ApiError::not_found("order"))?;
        let history = lifecycle::history(&state.db, order.id).await?;
        Ok(Json(Envelope::new(
            OrderView::from(order).with_history(history),
            "order",
        )))
    }

    /// Cancel my order while it is `pending` or `paid`: its stock goes back, a
    /// cancellation e-mail follows, and a paid order is owed a refund. 409
    /// `ORDER_STATE_CONFLICT` naming the status once it has shipped (or was
    /// cancelled already); someone else's order is 404.
    #[oai(path = "/:id/cancel", method = "post", operation_id = "orders_cancel")]
    async fn cancel(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        req: &Request,
        id: Path<Uuid>,
        body: OptionalJsonBody<CancelRequest>,
    ) -> Result<Json<Envelope<OrderView>>, Failure<outcomes::OrderTransition>> {
        let reason = optional_text("reason", body.0.and_then(|b| b.reason))?;
        let change = Change {
            transition: Transition::Cancel,
            actor: Actor::Customer(auth.0.sub),
            reason: reason.as_deref(),
            request_id: req.data::<RequestId>().map(|r| r.0.clone()),
            owner: Some(auth.0.sub),
        };
        let view = transition_and_read(&state, id.0, change).await?;
        Ok(Json(Envelope::new(view, "order cancelled")))
    }
}

/// A page of orders asked for: 1-based `page` (default 1), `page_size` 1 to 100
/// (default 20), `page × page_size` at most 10,000.
pub fn order_page(page: Option<u64>, page_size: Option<u64>) -> Result<(u64, u64), ApiError> {
    let (page, page_size) = (page.unwrap_or(1), page_size.unwrap_or(20));
    if page == 0 {
        return Err(ApiError::validation("page", "must be at least 1"));
    }
    if !(1..=100).contains(&page_size) {
        return Err(ApiError::validation(
            "page_size",
            "must be between 1 and 100",
        ));
    }
    super::products::check_depth(page, page_size)?;
    Ok((page, page_size))
}

/// `POST /api/orders/{id}/cancel` and the admin transitions (the body is optional).
#[derive(Debug, Clone, Object)]
pub struct CancelRequest {
    /// Why, at most 500 characters.
    pub reason: Option<String>,
}

/// An optional text field (a note, a reason, a tracking reference): trimmed, none
/// when blank, at most 500 characters (a refusal names `field`).
pub fn optional_text(field: &str, text: Option<String>) -> Result<Option<String>, ApiError> {
    let text = text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    if text.as_ref().is_some_and(|t| t.chars().count() > 500) {
        return Err(ApiError::validation(
            field,
            "must be at most 500 characters",
        ));
    }
    Ok(text)
}

/// Applies `change` to `order` (which bumps the catalogue's stock version when stock
/// came back), and answers the order as it is now, with its history.
pub async fn transition_and_read(
    state: &SharedState,
    order: Uuid,
    change: Change<'_>,
) -> Result<OrderView, ApiError> {
    service::transition(&state.db, &state.catalogue, order, change).await?;
    let order = repo::get(&state.db, order, Uuid::nil(), true)
        .await?
        .ok_or_else(|| ApiError::not_found("order"))?;
    let history = lifecycle::history(&state.db, order.id).await?;
    Ok(OrderView::from(order).with_history(history))
}
