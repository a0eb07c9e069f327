//! `/api/orders`: place an order from the cart, list mine, read one.

use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use sea_orm::TransactionTrait;
use uuid::Uuid;

use super::ApiTags;
use crate::{
    auth::{extract::BearerAuth, users},
    envelope::{Envelope, Pagination},
    error::ApiError,
    json_body::OptionalJsonBody,
    middleware::RequestId,
    orders::{
        idempotency::{self, Claim},
        place,
        repo::{self, OrderView},
    },
    state::SharedState,
};

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
    ) -> Result<Placed, ApiError> {
        let user = auth.0.sub;
        let note = body
            .0
            .and_then(|b| b.note)
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty());
        if note.as_ref().is_some_and(|n| n.chars().count() > 500) {
            return Err(ApiError::validation(
                "note",
                "must be at most 500 characters",
            ));
        }
        // The request, canonically: two requests differ if their notes differ.
        let raw = serde_json::to_vec(&note).unwrap_or_default();
        // Read raw: a key poem cannot read as text (non-ASCII) must be refused, not
        // taken for no key at all.
        let _ = idempotency_key;
        let key = req
            .headers()
            .get("idempotency-key")
            .map(|v| idempotency::parse_key_bytes(v.as_bytes()))
            .transpose()?;
        let mut claim = None;
        if let Some(key) = &key {
            match idempotency::claim(&state.db, user, key, &idempotency::request_hash(&raw)).await?
            {
                Claim::Proceed(fence) => claim = Some((key.clone(), fence)),
                Claim::Replay { status, body } => {
                    if status == 201 {
                        let envelope: Envelope<OrderView> =
                            poem_openapi::types::ParseFromJSON::parse_from_json(Some(body))
                                .map_err(|e| ApiError::internal(e.into_message()))?;
                        return Ok(Placed::Created(Json(envelope), Some("true".into())));
                    }
                    return Err(replayed_refusal(status, &body));
                }
            }
        }
        let result = place_order(&state, user, req, claim.as_ref(), note.as_deref()).await;
        if let (Err(e), Some((key, fence))) = (&result, &claim) {
            if STORED_REFUSALS.contains(&e.code) {
                // An answer, not an accident: a retry with this key gets it again,
                // even if stock came back meanwhile.
                idempotency::complete(
                    &state.db,
                    user,
                    key,
                    *fence,
                    e.status.as_u16(),
                    &e.body_json(),
                )
                .await?;
            } else {
                // Nothing was written and nothing was decided: the client may retry.
                idempotency::release(&state.db, user, key, *fence).await?;
            }
        }
        let order = result?;
        state.catalogue.invalidate().await;
        Ok(Placed::Created(
            Json(Envelope::new(order, "order placed")),
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
    ) -> Result<Json<Envelope<Vec<OrderView>>>, ApiError> {
        let page = page.0.unwrap_or(1);
        let page_size = page_size.0.unwrap_or(20);
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
        let (orders, total) = repo::mine(&state.db, auth.0.sub, page, page_size).await?;
        Ok(Json(Envelope::paged(
            orders,
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
    ) -> Result<Json<Envelope<OrderView>>, ApiError> {
        let order = repo::get(&state.db, id.0, auth.0.sub, auth.0.role == "admin")
            .await?
            .ok_or_else(|| ApiError::not_found("order"))?;
        Ok(Json(Envelope::new(order, "order")))
    }
}

/// Runs the order transaction; with a claimed key (and its fence), its response is
/// stored in the same commit, or nothing is committed when the key was taken over.
pub async fn place_order(
    state: &SharedState,
    user: Uuid,
    req: &Request,
    claim: Option<&(String, Uuid)>,
    note: Option<&str>,
) -> Result<OrderView, ApiError> {
    let buyer = users::by_id(&state.db, user)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let txn = state.db.begin().await?;
    let order = place::place(
        &txn,
        user,
        &buyer.email,
        note,
        req.data::<RequestId>().map(|r| r.0.clone()),
    )
    .await?;
    if let Some((key, fence)) = claim {
        let body =
            poem_openapi::types::ToJSON::to_json(&Envelope::new(order.clone(), "order placed"))
                .unwrap_or_default();
        idempotency::complete(&txn, user, key, *fence, 201, &body).await?;
    }
    txn.commit().await?;
    tracing::info!(order_id = %order.id, total_cents = order.total_cents, "order placed");
    Ok(order)
}
