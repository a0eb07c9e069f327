//! Payments: the providers' webhook (`/api/webhooks/payments/{provider}`), an admin's
//! manual payment (`/api/admin/orders/{id}/mark-paid`) and a buyer starting a payment
//! (`/api/orders/{id}/payment`). Thin: the use cases are `payments::service`.

use poem::{Request, RequestBody, web::Data};
use poem_openapi::{
    Object, OpenApi, impl_apirequest_for_payload,
    param::{Header, Path},
    payload::{Json, ParsePayload, Payload},
    registry::{MetaSchemaRef, Registry},
    types::Type,
};
use uuid::Uuid;

use super::{ApiTags, outcomes};
use crate::{
    auth::extract::{AdminAuth, BearerAuth},
    envelope::Envelope,
    error::{ApiError, Failure},
    json_body::OptionalJsonBody,
    middleware::RequestId,
    payments::{
        error::PaymentError,
        provider::StripeProvider,
        service::{self, Received, StripeCall},
    },
    state::SharedState,
};

/// A JSON body kept as the exact bytes received: a signature is verified over them,
/// before anything parses them. Bounded like every JSON body
/// (`MAX_JSON_BODY_BYTES`, 64 KiB by default; Stripe's events are a few KiB).
pub struct RawJson(pub Vec<u8>);

impl Payload for RawJson {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        Json::<serde_json::Value>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        serde_json::Value::schema_ref()
    }

    fn register(registry: &mut Registry) {
        serde_json::Value::register(registry);
    }
}

impl ParsePayload for RawJson {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        Ok(Self(
            <Vec<u8> as poem::FromRequest>::from_request(request, body).await?,
        ))
    }
}

impl_apirequest_for_payload!(RawJson);

/// What a webhook event did.
#[derive(Debug, Clone, Object)]
pub struct WebhookReceipt {
    /// The order the event paid; `null` for an ignored event.
    #[oai(nullable)]
    pub order_id: Option<Uuid>,
    /// `paid`, or `ignored` for an event type the shop does not act on.
    pub status: String,
}

/// `POST /api/admin/orders/{id}/mark-paid` (the body is optional).
#[derive(Debug, Clone, Object)]
pub struct MarkPaidRequest {
    /// What the money came with (a bank transfer's reference, a receipt number), at
    /// most 200 characters; kept with the payment and in the order's history.
    pub reference: Option<String>,
}

/// An order that was just paid.
#[derive(Debug, Clone, Object)]
pub struct PaidOrder {
    /// The order.
    pub order_id: Uuid,
    /// Its number.
    pub number: i64,
    /// Always `paid`.
    pub status: String,
}

/// A payment started at the provider, for the buyer's browser to confirm.
#[derive(Clone, Object)]
pub struct StartedPaymentView {
    /// The order.
    pub order_id: Uuid,
    /// `stripe`.
    pub provider: String,
    /// The provider's payment id (a Stripe PaymentIntent, `pi_…`).
    pub payment_id: String,
    /// What Stripe.js confirms the payment with (`stripe.confirmPayment`); only for
    /// the buyer's browser.
    pub client_secret: String,
}

redacted_debug!(StartedPaymentView {
    shown: [order_id, provider, payment_id],
    hidden: [client_secret]
});

fn request_id(req: &Request) -> Option<String> {
    req.data::<RequestId>().map(|r| r.0.clone())
}

/// The payment endpoints.
pub struct PaymentsApi;

#[OpenApi]
impl PaymentsApi {
    /// A payment provider's webhook. `stripe`: the call must carry a valid
    /// `Stripe-Signature` over the raw body (`t=<unix seconds>,v1=<HMAC-SHA256 hex>`,
    /// at most `STRIPE_WEBHOOK_TOLERANCE_SECONDS` old), else 400
    /// `WEBHOOK_SIGNATURE_INVALID` with `details.reason` (`missing`, `malformed`,
    /// `expired`, `mismatch`) and nothing is written. `payment_intent.succeeded` and
    /// `checkout.session.completed` pay the order in `metadata.order_id` (or the
    /// session's `client_reference_id`); other event types are acknowledged (200,
    /// `ignored`) and not recorded. A payment whose amount or currency is not the
    /// order's is recorded `mismatched` (422); one for an order that is no longer
    /// pending is recorded `refused` (409): the shop must refund it at the provider.
    /// The same event again is 409 `WEBHOOK_DUPLICATE` and changes nothing: Stripe
    /// stops retrying an event once it got a 2xx, so only a replay or a late retry of
    /// an already answered event lands there. 404 for an unknown or unconfigured
    /// provider.
    #[oai(
        path = "/api/webhooks/payments/:provider",
        method = "post",
        operation_id = "payments_webhook",
        tag = "ApiTags::Payments"
    )]
    async fn webhook(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        /// `stripe`.
        provider: Path<String>,
        /// Stripe's signature of the body: `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`.
        #[oai(name = "Stripe-Signature")]
        signature: Header<Option<String>>,
        /// The provider's event, exactly as sent.
        body: RawJson,
    ) -> Result<Json<Envelope<WebhookReceipt>>, Failure<outcomes::PaymentWebhook>> {
        let settings = &state.settings.orders;
        let secret = match (provider.0.as_str(), &settings.stripe_webhook_secret) {
            (service::STRIPE, Some(secret)) => secret,
            _ => return Err(ApiError::from(PaymentError::UnknownProvider).into()),
        };
        let received = service::receive_stripe(
            &state.db,
            StripeCall {
                secret,
                tolerance: settings.stripe_tolerance,
                now: chrono::Utc::now().timestamp(),
                signature: signature.0.as_deref(),
                body: &body.0,
                request_id: request_id(req),
            },
        )
        .await
        .map_err(ApiError::from)?;
        let (receipt, message) = match received {
            Received::Paid { order_id } => (
                WebhookReceipt {
                    order_id: Some(order_id),
                    status: "paid".into(),
                },
                "payment recorded",
            ),
            Received::Ignored { .. } => (
                WebhookReceipt {
                    order_id: None,
                    status: "ignored".into(),
                },
                "event ignored",
            ),
        };
        Ok(Json(Envelope::new(receipt, message)))
    }

    /// Mark a pending order paid by hand (cash, a bank transfer): a `manual` payment of
    /// the order's total is recorded with the optional `reference`, and the order
    /// moves to `paid` with the admin in its history. 409 `ORDER_STATE_CONFLICT` when
    /// the order is not pending, 404 for an unknown order. Admin only.
    #[oai(
        path = "/api/admin/orders/:id/mark-paid",
        method = "post",
        operation_id = "admin_orders_mark_paid",
        tag = "ApiTags::Admin"
    )]
    async fn mark_paid(
        &self,
        state: Data<&SharedState>,
        admin: AdminAuth,
        req: &Request,
        id: Path<Uuid>,
        body: OptionalJsonBody<MarkPaidRequest>,
    ) -> Result<Json<Envelope<PaidOrder>>, Failure<outcomes::MarkPaid>> {
        let reference =
            service::parse_reference(body.0.as_ref().and_then(|b| b.reference.as_deref()))
                .map_err(ApiError::from)?;
        let moved = service::mark_paid(
            &state.db,
            id.0,
            admin.0.sub,
            reference.as_deref(),
            request_id(req),
        )
        .await
        .map_err(ApiError::from)?;
        Ok(Json(Envelope::new(
            PaidOrder {
                order_id: moved.order_id,
                number: moved.number,
                status: moved.to.to_owned(),
            },
            "order marked paid",
        )))
    }

    /// Start paying my pending order at Stripe: creates a PaymentIntent for the
    /// order's total (one per order: retries get the same one) and answers its
    /// `client_secret` for Stripe.js to confirm; the order becomes `paid` when Stripe's
    /// webhook says so. 404 for someone else's order, 409 `ORDER_STATE_CONFLICT` when
    /// it is not pending, 503 `PAYMENTS_NOT_CONFIGURED` without `STRIPE_SECRET_KEY`,
    /// 502 `PAYMENT_PROVIDER_UNAVAILABLE` when Stripe cannot be reached or refuses.
    #[oai(
        path = "/api/orders/:id/payment",
        method = "post",
        operation_id = "orders_start_payment",
        tag = "ApiTags::Orders"
    )]
    async fn start(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Json<Envelope<StartedPaymentView>>, Failure<outcomes::StartPayment>> {
        let provider = StripeProvider::from_settings(&state.settings.orders);
        let started = service::start(&state.db, provider.as_ref(), id.0, auth.0.sub)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(Envelope::new(
            StartedPaymentView {
                order_id: id.0,
                provider: service::STRIPE.to_owned(),
                payment_id: started.provider_ref,
                client_secret: started.client_secret,
            },
            "payment started",
        )))
    }
}
