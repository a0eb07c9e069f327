//! A short human order number (issue 17: "The e-mails are bare"): `orders.number`, an
//! identity starting at 1000, shown in the API's order view and the confirmation
//! e-mail ("Order #1042"). The UUID stays the order's key and reference.
//!
//! Existing orders are numbered in the order they were placed, and the identity goes
//! on after the highest of them. The whole script is one transaction that holds the
//! table's lock from the first `ALTER`, so no order is placed between the numbering
//! and the identity taking over.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE orders ADD COLUMN number BIGINT;
UPDATE orders o SET number = n.number
  FROM (SELECT id, 999 + row_number() OVER (ORDER BY created_at, id) AS number FROM orders) n
 WHERE n.id = o.id;
ALTER TABLE orders
    ALTER COLUMN number SET NOT NULL,
    ALTER COLUMN number ADD GENERATED ALWAYS AS IDENTITY (START WITH 1000 MINVALUE 1000);
SELECT setval(pg_get_serial_sequence('orders', 'number'), max(number)) FROM orders HAVING count(*) > 0;
ALTER TABLE orders ADD CONSTRAINT orders_number_unique UNIQUE (number);
"#;

const DOWN: &str = r#"
ALTER TABLE orders DROP COLUMN number;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_sql(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_sql(manager, DOWN).await
    }
}
