//! The `payments` table and the order row a payment locks. Any connection; the
//! service owns the transaction.

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

use crate::sql::stmt;

/// What a payment is checked against, read under the order's row lock.
#[derive(Debug, Clone, FromQueryResult)]
pub struct OrderToPay {
    /// The order's total, in minor units.
    pub total_cents: i64,
    /// Its currency (uppercase).
    pub currency: String,
    /// Its status now.
    pub status: String,
}

/// Locks order `id` until the transaction ends (`FOR UPDATE`) and reads what a payment
/// is checked against; `None` when there is no such order. Two events for one order
/// are decided one after the other, each seeing what the other committed.
pub async fn lock_order(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<OrderToPay>, DbErr> {
    OrderToPay::find_by_statement(stmt(
        "SELECT total_cents, currency, status FROM orders WHERE id = $1 FOR UPDATE",
        vec![id.into()],
    ))
    .one(db)
    .await
}

/// Order `id` of `buyer` (someone else's is `None`), without a lock.
pub async fn buyers_order(
    db: &impl ConnectionTrait,
    id: Uuid,
    buyer: Uuid,
) -> Result<Option<OrderToPay>, DbErr> {
    OrderToPay::find_by_statement(stmt(
        "SELECT total_cents, currency, status FROM orders WHERE id = $1 AND user_id = $2",
        vec![id.into(), buyer.into()],
    ))
    .one(db)
    .await
}

/// Whether `provider` already sent event `event_id` (any outcome).
pub async fn event_seen(
    db: &impl ConnectionTrait,
    provider: &str,
    event_id: &str,
) -> Result<bool, DbErr> {
    #[derive(FromQueryResult)]
    struct Seen {
        seen: bool,
    }
    Ok(Seen::find_by_statement(stmt(
        "SELECT EXISTS (SELECT 1 FROM payments WHERE provider = $1 AND provider_event_id = $2) AS seen",
        vec![provider.into(), event_id.into()],
    ))
    .one(db)
    .await?
    .is_some_and(|s| s.seen))
}

/// `succeeded`, `mismatched`, `refused` (`refunded` is written by refunds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    /// It paid the order.
    Succeeded,
    /// Amount or currency differ from the order's; the order did not move.
    Mismatched,
    /// The order was no longer pending; a real shop refunds it.
    Refused,
}

impl PaymentStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Mismatched => "mismatched",
            Self::Refused => "refused",
        }
    }
}

/// A row of `payments`.
#[derive(Debug, Clone)]
pub struct NewPayment<'a> {
    /// The order.
    pub order_id: Uuid,
    /// `stripe`, `manual`.
    pub provider: &'a str,
    /// The provider's payment object, or the admin's reference.
    pub provider_ref: Option<&'a str>,
    /// The provider's event id (the dedupe key); none for manual payments.
    pub provider_event_id: Option<&'a str>,
    /// Amount, minor units.
    pub amount_cents: i64,
    /// Uppercase ISO 4217.
    pub currency: &'a str,
    /// The outcome.
    pub status: PaymentStatus,
    /// Why it did not pay, for the people reading the table.
    pub detail: Option<String>,
}

/// Inserts `payment`; returns its id. A second row for one provider event violates
/// `payments_event_once` (see [`violated_constraint`]).
pub async fn insert(db: &impl ConnectionTrait, payment: NewPayment<'_>) -> Result<Uuid, DbErr> {
    let id = Uuid::now_v7();
    db.execute_raw(stmt(
        "INSERT INTO payments (id, order_id, provider, provider_ref, provider_event_id,
                               amount_cents, currency, status, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        vec![
            id.into(),
            payment.order_id.into(),
            payment.provider.into(),
            payment.provider_ref.map(str::to_owned).into(),
            payment.provider_event_id.map(str::to_owned).into(),
            payment.amount_cents.into(),
            payment.currency.into(),
            payment.status.as_str().into(),
            payment.detail.into(),
        ],
    ))
    .await?;
    Ok(id)
}

/// The constraint a unique violation (`23505`) names, if `err` is one.
pub fn violated_constraint(err: &DbErr) -> Option<String> {
    use sea_orm::{RuntimeErr, SqlxError};
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err
    else {
        return None;
    };
    let SqlxError::Database(e) = e.as_ref() else {
        return None;
    };
    (e.code().as_deref() == Some("23505")).then(|| e.constraint().unwrap_or_default().to_owned())
}
