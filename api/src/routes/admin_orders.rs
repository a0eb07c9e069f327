//! `/api/admin/orders`: every order, and the moves of the status flow an admin makes
//! (ship, deliver, cancel with a reason, refund). Payment by hand is
//! `POST /api/admin/orders/{id}/mark-paid` (`routes::payments`).

use poem::{Request, web::Data};
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{
    ApiTags,
    orders::{CancelRequest, OrderView, optional_text, order_page, transition_and_read},
    outcomes,
};
use crate::{
    auth::extract::AdminAuth,
    envelope::{Envelope, Pagination},
    error::{ApiError, Failure},
    json_body::{JsonBody, OptionalJsonBody},
    middleware::RequestId,
    orders::{
        lifecycle::{Actor, Change, Transition},
        repo::{self, OrderFilter},
    },
    state::SharedState,
};

/// The states an order can be in.
const STATES: [&str; 6] = [
    "pending",
    "paid",
    "shipped",
    "delivered",
    "cancelled",
    "refunded",
];

/// `POST /api/admin/orders/{id}/ship` (the body is optional).
#[derive(Debug, Clone, Object)]
pub struct ShipRequest {
    /// The carrier's tracking reference, at most 500 characters; it goes into the
    /// shipping e-mail.
    pub tracking: Option<String>,
}

/// `POST /api/admin/orders/{id}/cancel`.
#[derive(Debug, Clone, Object)]
pub struct AdminCancelRequest {
    /// Why (required, 1 to 500 characters); the buyer's e-mail says it.
    pub reason: String,
}

/// Admin order management.
pub struct AdminOrdersApi;

impl AdminOrdersApi {
    async fn apply(
        state: &SharedState,
        admin: &AdminAuth,
        req: &Request,
        id: Uuid,
        transition: Transition,
        reason: Option<String>,
    ) -> Result<Json<Envelope<OrderView>>, ApiError> {
        let change = Change {
            transition,
            actor: Actor::Admin(admin.0.sub),
            reason: reason.as_deref(),
            request_id: req.data::<RequestId>().map(|r| r.0.clone()),
            owner: None,
        };
        let view = transition_and_read(state, id, change).await?;
        Ok(Json(Envelope::new(
            view,
            format!("order {}", transition.to()),
        )))
    }
}

#[OpenApi(prefix_path = "/api/admin/orders", tag = "ApiTags::Admin")]
impl AdminOrdersApi {
    /// Every order, newest first, optionally only one status or one buyer's. Three
    /// queries whatever the page size. Admin only.
    #[oai(path = "/", method = "get", operation_id = "admin_orders_list")]
    async fn list(
        &self,
        state: Data<&SharedState>,
        _admin: AdminAuth,
        /// Only orders in this status: `pending`, `paid`, `shipped`, `delivered`,
        /// `cancelled` or `refunded`.
        status: Query<Option<String>>,
        /// Only this buyer's orders.
        user_id: Query<Option<Uuid>>,
        /// 1-based page (default 1); `page × page_size` at most 10,000 (422 beyond).
        page: Query<Option<u64>>,
        /// Items per page, 1 to 100 (default 20).
        page_size: Query<Option<u64>>,
    ) -> Result<Json<Envelope<Vec<OrderView>>>, Failure<outcomes::AdminRead>> {
        let (page, page_size) = order_page(page.0, page_size.0)?;
        if let Some(s) = status.0.as_deref()
            && !STATES.contains(&s)
        {
            return Err(ApiError::validation(
                "status",
                format!("must be one of {}", STATES.join(", ")),
            )
            .into());
        }
        let filter = OrderFilter {
            status: status.0,
            user_id: user_id.0,
        };
        let (orders, total) = repo::all(&state.db, &filter, page, page_size).await?;
        Ok(Json(Envelope::paged(
            orders.into_iter().map(OrderView::from).collect(),
            "orders",
            Pagination {
                page,
                page_size,
                total,
            },
        )))
    }

    /// Ship a paid order (`paid` → `shipped`), with the carrier's tracking
    /// reference if any; the buyer gets an e-mail. 409 `ORDER_STATE_CONFLICT`
    /// naming the status otherwise. Admin only.
    #[oai(
        path = "/:id/ship",
        method = "post",
        operation_id = "admin_orders_ship"
    )]
    async fn ship(
        &self,
        state: Data<&SharedState>,
        admin: AdminAuth,
        req: &Request,
        id: Path<Uuid>,
        body: OptionalJsonBody<ShipRequest>,
    ) -> Result<Json<Envelope<OrderView>>, Failure<outcomes::AdminOrderTransition>> {
        let tracking = optional_text("tracking", body.0.and_then(|b| b.tracking))?;
        Ok(Self::apply(&state, &admin, req, id.0, Transition::Ship, tracking).await?)
    }

    /// Mark a shipped order delivered (`shipped` → `delivered`); the buyer gets an
    /// e-mail. 409 `ORDER_STATE_CONFLICT` otherwise. Admin only.
    #[oai(
        path = "/:id/deliver",
        method = "post",
        operation_id = "admin_orders_deliver"
    )]
    async fn deliver(
        &self,
        state: Data<&SharedState>,
        admin: AdminAuth,
        req: &Request,
        id: Path<Uuid>,
    ) -> Result<Json<Envelope<OrderView>>, Failure<outcomes::AdminOrderTransition>> {
        Ok(Self::apply(&state, &admin, req, id.0, Transition::Deliver, None).await?)
    }

    /// Cancel an order before it ships (`pending` or `paid` → `cancelled`), with a
    /// reason: its stock goes back once, and the buyer gets an e-mail with the
    /// reason (a paid order is then owed a refund: `refund`). 409
    /// `ORDER_STATE_CONFLICT` once shipped. Admin only.
    #[oai(
        path = "/:id/cancel",
        method = "post",
        operation_id = "admin_orders_cancel"
    )]
    async fn cancel(
        &self,
        state: Data<&SharedState>,
        admin: AdminAuth,
        req: &Request,
        id: Path<Uuid>,
        body: JsonBody<AdminCancelRequest>,
    ) -> Result<Json<Envelope<OrderView>>, Failure<outcomes::AdminOrderTransition>> {
        let reason = optional_text("reason", Some(body.0.reason.clone()))?
            .ok_or_else(|| ApiError::validation("reason", "must not be blank"))?;
        Ok(Self::apply(&state, &admin, req, id.0, Transition::Cancel, Some(reason)).await?)
    }

    /// Record the refund of a cancelled order that was paid (`cancelled` →
    /// `refunded`), once the money went back (by the provider's dashboard or by
    /// hand); the buyer gets an e-mail. 409 `ORDER_STATE_CONFLICT` for any other
    /// order, or one cancelled before it was paid. Admin only.
    #[oai(
        path = "/:id/refund",
        method = "post",
        operation_id = "admin_orders_refund"
    )]
    async fn refund(
        &self,
        state: Data<&SharedState>,
        admin: AdminAuth,
        req: &Request,
        id: Path<Uuid>,
        body: OptionalJsonBody<CancelRequest>,
    ) -> Result<Json<Envelope<OrderView>>, Failure<outcomes::AdminOrderTransition>> {
        let reason = optional_text("reason", body.0.and_then(|b| b.reason))?;
        Ok(Self::apply(&state, &admin, req, id.0, Transition::Refund, reason).await?)
    }
}
