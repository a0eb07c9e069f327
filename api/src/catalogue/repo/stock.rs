//! Stock adjustments by admins: an atomic delta kept within
//! `0..=MAX_STOCK_LEVEL`, recorded in the inventory ledger in the same transaction.

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

use super::{COLUMNS, FROM_CHANGED, ProductRow, with_images};
use crate::{catalogue::model::Product, sql::stmt};

/// Outcome of a stock adjustment.
pub enum StockChange {
    /// Applied.
    Applied(Box<Product>),
    /// No such product.
    Missing,
    /// It would go below zero; the current stock.
    Insufficient(i32),
    /// It would go above [`MAX_STOCK_LEVEL`](crate::catalogue::model::MAX_STOCK_LEVEL);
    /// the current stock.
    TooMuch(i32),
}

/// Adds `delta` to the stock (never below zero) and records the movement.
pub async fn adjust_stock(
    db: &impl ConnectionTrait,
    id: Uuid,
    delta: i32,
    reason: &str,
    by: Uuid,
) -> Result<StockChange, DbErr> {
    let row = ProductRow::find_by_statement(stmt(
        &format!(
            "WITH changed AS (UPDATE products SET stock = stock + $2, updated_at = now()
             WHERE id = $1 AND stock::int8 + $2 BETWEEN 0 AND $3 RETURNING *)
             SELECT {COLUMNS} FROM {FROM_CHANGED}"
        ),
        vec![
            id.into(),
            delta.into(),
            crate::catalogue::model::MAX_STOCK_LEVEL.into(),
        ],
    ))
    .one(db)
    .await?;
    let Some(row) = row else {
        #[derive(FromQueryResult)]
        struct S {
            stock: i32,
        }
        return Ok(
            match S::find_by_statement(stmt(
                "SELECT stock FROM products WHERE id = $1",
                vec![id.into()],
            ))
            .one(db)
            .await?
            {
                Some(s) if delta > 0 => StockChange::TooMuch(s.stock),
                Some(s) => StockChange::Insufficient(s.stock),
                None => StockChange::Missing,
            },
        );
    };
    db.execute_raw(stmt(
        "INSERT INTO inventory_movements (product_id, delta, reason, created_by) VALUES ($1, $2, $3, $4)",
        vec![id.into(), delta.into(), reason.into(), by.into()],
    ))
    .await?;
    Ok(StockChange::Applied(Box::new(
        with_images(db, vec![row]).await?.remove(0),
    )))
}
