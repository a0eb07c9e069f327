//! The inventory consumer (group `inventory`).
//!
//! It does not decrement stock again (the order transaction did). For each
//! `order-placed` event it records one ledger movement per product, idempotent by
//! `(event_id, product_id)`, and when the order took a product to or below its
//! low-stock threshold it sends one alert e-mail to the admins. Only the order that
//! crosses the threshold alerts (`stock_after <= threshold < stock_after + quantity`),
//! so a product alerts once per descent, not once per later order.

use anyhow::anyhow;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use shop_common::events::{Event, EventEnvelope, OrderPlaced, OrderPlacedItem};

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

impl<M: SendMail> Handler for InventoryHandler<M> {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandleError> {
        if event.event_type != OrderPlaced::TYPE {
            return Err(HandleError::Permanent(anyhow!(
                "the inventory consumer has no handler for event type `{}`",
                event.event_type
            )));
        }
        let order = event
            .decode::<OrderPlaced>()
            .map_err(|e| HandleError::Permanent(e.into()))?
            .payload;
        let txn = self.db.begin().await.map_err(transient)?;
        for item in &order.items {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO inventory_movements (product_id, delta, reason, order_id, event_id)
                 VALUES ($1, $2, 'order', $3, $4) ON CONFLICT (event_id, product_id) DO NOTHING",
                [
                    item.product_id.into(),
                    (-item.quantity).into(),
                    order.order_id.into(),
                    event.event_id.into(),
                ],
            ))
            .await
            .map_err(transient)?;
        }
        txn.commit().await.map_err(transient)?;

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
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

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
