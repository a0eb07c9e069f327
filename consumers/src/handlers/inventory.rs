//! The inventory consumer (group `inventory`): the stock ledger
//! (`inventory_movements`) and the admins' low-stock alerts, from the order topic.
//!
//! It never changes stock itself: the transaction that wrote each event already did.
//! By event type:
//! - `order-placed`: one movement per product, `-quantity`, reason `order`; and when
//!   the order took a product to or below its low-stock threshold, one alert e-mail
//!   to the admins. Only the order that crosses the threshold alerts
//!   (`stock_after <= threshold < stock_after + quantity`), so a product alerts once
//!   per descent, not once per later order.
//! - `order-cancelled`: one movement per returned product, `+quantity`, reason
//!   `cancel` (the cancelling transaction gave the stock back). No alert.
//! - `order-status-changed` (paid, shipped, delivered, refunded): no stock moves;
//!   handled as done, never dead-lettered.
//! - anything else: a permanent error (dead-lettered).
//!
//! Every movement is idempotent by `(event_id, product_id)` (`ON CONFLICT DO
//! NOTHING`), so a redelivered event never moves the ledger twice.

use anyhow::anyhow;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use shop_common::events::{
    Event, EventEnvelope, OrderCancelled, OrderPlaced, OrderPlacedItem, OrderStatusChanged,
};
use uuid::Uuid;

use crate::{
    mailer::{MailSettings, Mailer, SendMail},
    processed,
    runner::{HandleError, Handler},
    templates,
};

/// Keeps the stock ledger and warns admins of low stock.
pub struct InventoryHandler<M = Mailer> {
    db: DatabaseConnection,
    mailer: M,
    admins: Vec<String>,
    shop: MailSettings,
}

impl<M: SendMail> InventoryHandler<M> {
    /// A handler writing to `db` and alerting `admins` through `mailer`, the mails
    /// speaking for `shop`.
    pub fn new(db: DatabaseConnection, mailer: M, admins: Vec<String>, shop: MailSettings) -> Self {
        Self {
            db,
            mailer,
            admins,
            shop,
        }
    }
}

/// Whether this order took the item to or below its threshold.
pub fn crossed_threshold(item: &OrderPlacedItem) -> bool {
    item.stock_after <= item.low_stock_threshold
        && item.stock_after + item.quantity > item.low_stock_threshold
}

fn transient(e: sea_orm::DbErr) -> HandleError {
    HandleError::Transient(anyhow!("database: {e}"))
}

/// The ledger's reason of a movement of an order's placement.
pub const REASON_ORDER: &str = "order";
/// The ledger's reason of a movement of an order's cancellation.
pub const REASON_CANCEL: &str = "cancel";

fn permanent(e: impl Into<anyhow::Error>) -> HandleError {
    HandleError::Permanent(e.into())
}

impl<M: SendMail> Handler for InventoryHandler<M> {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandleError> {
        match event.event_type.as_str() {
            OrderPlaced::TYPE => self.order_placed(event).await,
            OrderCancelled::TYPE => self.order_cancelled(event).await,
            // Paid, shipped, delivered, refunded: no stock moves.
            OrderStatusChanged::TYPE => Ok(()),
            other => Err(permanent(anyhow!(
                "the inventory consumer has no handler for event type `{other}`"
            ))),
        }
    }
}

impl<M: SendMail> InventoryHandler<M> {
    /// Records `(product, delta)` movements of `event` in one transaction, each once
    /// per `(event_id, product_id)`.
    async fn record(
        &self,
        event_id: Uuid,
        order_id: Uuid,
        reason: &str,
        movements: &[(Uuid, i32)],
    ) -> Result<(), HandleError> {
        let txn = self.db.begin().await.map_err(transient)?;
        for &(product_id, delta) in movements {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO inventory_movements (product_id, delta, reason, order_id, event_id)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id, product_id) DO NOTHING",
                [
                    product_id.into(),
                    delta.into(),
                    reason.into(),
                    order_id.into(),
                    event_id.into(),
                ],
            ))
            .await
            .map_err(transient)?;
        }
        txn.commit().await.map_err(transient)
    }

    async fn order_placed(&self, event: &EventEnvelope) -> Result<(), HandleError> {
        let order = event.decode::<OrderPlaced>().map_err(permanent)?.payload;
        let movements: Vec<(Uuid, i32)> = order
            .items
            .iter()
            .map(|i| (i.product_id, -i.quantity))
            .collect();
        self.record(event.event_id, order.order_id, REASON_ORDER, &movements)
            .await?;

        let low: Vec<&OrderPlacedItem> = order
            .items
            .iter()
            .filter(|i| crossed_threshold(i))
            .collect();
        if !low.is_empty() && !self.admins.is_empty() {
            // The alert is part of this event's effect: only once it is sent does the
            // runner record the event as processed.
            if processed::is_processed(&self.db, "inventory-alert", event.event_id)
                .await
                .map_err(transient)?
            {
                return Ok(());
            }
            let mail = templates::low_stock_alert(&self.shop, &order, &low);
            let to: Vec<(String, String)> = self
                .admins
                .iter()
                .map(|a| (a.clone(), "Shop admin".to_owned()))
                .collect();
            self.mailer
                .send(event.event_id, "low-stock", &to, &mail)
                .await?;
            processed::mark_processed(&self.db, "inventory-alert", event.event_id)
                .await
                .map_err(transient)?;
        }
        Ok(())
    }

    /// The stock was given back by the cancelling transaction: only the ledger is
    /// kept here. A line of no units moved nothing (and the ledger refuses a zero
    /// delta); a negative one is a malformed event.
    async fn order_cancelled(&self, event: &EventEnvelope) -> Result<(), HandleError> {
        let cancelled = event.decode::<OrderCancelled>().map_err(permanent)?.payload;
        if let Some(bad) = cancelled.items.iter().find(|i| i.quantity < 0) {
            return Err(permanent(anyhow!(
                "order-cancelled {} returns a negative quantity ({}) of product {}",
                cancelled.order_id,
                bad.quantity,
                bad.product_id
            )));
        }
        let movements: Vec<(Uuid, i32)> = cancelled
            .items
            .iter()
            .filter(|i| i.quantity > 0)
            .map(|i| (i.product_id, i.quantity))
            .collect();
        self.record(
            event.event_id,
            cancelled.order_id,
            REASON_CANCEL,
            &movements,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(quantity: i32, stock_after: i32, threshold: i32) -> OrderPlacedItem {
        OrderPlacedItem {
            product_id: Uuid::nil(),
            name: "x".into(),
            quantity,
            unit_price_cents: 1,
            stock_after,
            low_stock_threshold: threshold,
        }
    }

    #[test]
    fn only_the_order_that_crosses_the_threshold_alerts() {
        assert!(crossed_threshold(&item(2, 5, 5)));
        assert!(crossed_threshold(&item(10, 0, 5)));
        assert!(
            !crossed_threshold(&item(1, 4, 5)),
            "already below before this order"
        );
        assert!(!crossed_threshold(&item(1, 6, 5)), "still above");
    }
}
