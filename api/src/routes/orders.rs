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
        repo::{self, Order, OrderItem},
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
    /// `pending`, `paid`, `shipped`, `completed` or `cancelled`.
    pub status: String,
    /// The buyer's note, if any.
    pub note: Option<String>,
    /// Lines.
    pub items: Vec<OrderLine>,
    /// Sum of the lines, in cents.
    pub total_cents: i64,
    /// Currency.
    pub currency: String,
    /// When it was placed.
    pub created_at: DateTime<Utc>,
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
        }
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

/// The buyer's note, trimmed; none when blank; at most 500 characters.
fn parse_note(body: Option<PlaceOrderRequest>) -> Result<Option<String>, ApiError> {
    let note = body
        .and_then(|b| b.note)
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > 500) {
        return Err(ApiError::validation(
            "note",
            "must be at most 500 characters",
        ));
    }
    Ok(note)
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
        let note = parse_note(body.0)?;
        // The request, canonically: two requests differ if their notes differ.
        let raw = serde_json::to_vec(&note).unwrap_or_default();
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
        let result = service::place_order(
            &state.db,
            user,
            note.as_deref(),
            req.data::<RequestId>().map(|r| r.0.clone()),
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
        state.catalogue.stock_moved().await;
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
        let page = page.0.unwrap_or(1);
        let page_size = page_size.0.unwrap_or(20);
        if page == 0 {
            return Err(ApiError::validation("page", "must be at least 1").into());
        }
        if !(1..=100).contains(&page_size) {
            return Err(ApiError::validation("page_size", "must be between 1 and 100").into());
        }
        super::products::check_depth(page, page_size)?;
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
        Ok(Json(Envelope::new(order.into(), "order")))
    }
}
