//! Orders after placement (issue 16): the status flow with its history, shipping
//! addresses (an address book per customer, a snapshot per order) and payments.
//!
//! - `orders.status`: `pending` → `paid` → `shipped` → `delivered`; `cancelled` from
//!   `pending` or `paid`; `refunded` after a paid order was cancelled. The unused
//!   `completed` becomes `delivered` (no code ever wrote it).
//! - `order_history`: one row per transition, placement included; existing orders get
//!   their placement row.
//! - `orders.expires_at`: when an unpaid order is cancelled by the expiry job (none for
//!   orders placed before, nor where no payment is awaited).
//! - `addresses`: at most one default shipping and one default billing address per
//!   customer (partial unique indexes), a real ISO 3166 alpha-2 country.
//! - `payments`: one row per provider event (unique per provider and event id, the
//!   webhook's dedupe), at most one succeeded payment per order.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE orders DROP CONSTRAINT orders_status_known;
UPDATE orders SET status = 'delivered' WHERE status = 'completed';
ALTER TABLE orders
    ADD CONSTRAINT orders_status_known
        CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded')),
    ADD COLUMN shipping_address JSONB,
    ADD COLUMN expires_at TIMESTAMPTZ,
    ADD COLUMN paid_at TIMESTAMPTZ,
    ADD COLUMN cancelled_at TIMESTAMPTZ;
-- Orders already past `pending` were paid (`paid_at` tells a cancellation a refund is owed).
UPDATE orders SET paid_at = updated_at WHERE status IN ('paid', 'shipped', 'delivered');
CREATE INDEX orders_expiry_idx ON orders (expires_at)
    WHERE status = 'pending' AND expires_at IS NOT NULL;

CREATE TABLE order_history (
    id          BIGSERIAL PRIMARY KEY,
    order_id    UUID NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    actor       TEXT NOT NULL,
    actor_id    UUID,
    reason      TEXT,
    request_id  TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT order_history_actor_known CHECK (actor IN ('customer', 'admin', 'system', 'provider')),
    CONSTRAINT order_history_reason_length CHECK (length(reason) <= 500),
    CONSTRAINT order_history_request_id_length CHECK (length(request_id) <= 200),
    CONSTRAINT order_history_moves CHECK (from_status IS DISTINCT FROM to_status)
);
CREATE INDEX order_history_order_idx ON order_history (order_id, id);
INSERT INTO order_history (order_id, from_status, to_status, actor, actor_id, reason, created_at)
SELECT id, NULL, 'pending', 'customer', user_id, 'placed', created_at FROM orders;

CREATE TABLE addresses (
    id                  UUID PRIMARY KEY,
    user_id             UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    line1               TEXT NOT NULL,
    line2               TEXT,
    city                TEXT NOT NULL,
    region              TEXT,
    postal_code         TEXT NOT NULL,
    country             TEXT NOT NULL,
    phone               TEXT,
    is_default_shipping BOOLEAN NOT NULL DEFAULT false,
    is_default_billing  BOOLEAN NOT NULL DEFAULT false,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT addresses_country_code CHECK (country ~ '^[A-Z]{2}$'),
    CONSTRAINT addresses_lengths CHECK (
        length(name) BETWEEN 1 AND 200 AND length(line1) BETWEEN 1 AND 500
        AND length(line2) <= 200 AND length(city) <= 100 AND length(region) <= 100
        AND length(postal_code) <= 20 AND length(phone) <= 40)
);
CREATE INDEX addresses_user_idx ON addresses (user_id, created_at);
CREATE UNIQUE INDEX addresses_one_default_shipping ON addresses (user_id) WHERE is_default_shipping;
CREATE UNIQUE INDEX addresses_one_default_billing ON addresses (user_id) WHERE is_default_billing;

CREATE TABLE payments (
    id                UUID PRIMARY KEY,
    order_id          UUID NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    provider          TEXT NOT NULL,
    provider_ref      TEXT,
    provider_event_id TEXT,
    amount_cents      BIGINT NOT NULL,
    currency          TEXT NOT NULL,
    status            TEXT NOT NULL,
    detail            TEXT,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT payments_status_known CHECK (status IN ('succeeded', 'mismatched', 'refused', 'refunded')),
    CONSTRAINT payments_provider_length CHECK (length(provider) BETWEEN 1 AND 40),
    CONSTRAINT payments_ref_length CHECK (length(provider_ref) <= 255 AND length(provider_event_id) <= 255),
    CONSTRAINT payments_currency_iso CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT payments_event_once UNIQUE (provider, provider_event_id)
);
CREATE INDEX payments_order_idx ON payments (order_id);
CREATE UNIQUE INDEX payments_one_success_per_order ON payments (order_id) WHERE status = 'succeeded';
"#;

const DOWN: &str = r#"
DROP TABLE payments;
DROP TABLE addresses;
DROP TABLE order_history;
DROP INDEX orders_expiry_idx;
ALTER TABLE orders DROP CONSTRAINT orders_status_known,
    DROP COLUMN shipping_address, DROP COLUMN expires_at, DROP COLUMN paid_at, DROP COLUMN cancelled_at;
UPDATE orders SET status = 'completed' WHERE status = 'delivered';
UPDATE orders SET status = 'cancelled' WHERE status = 'refunded';
ALTER TABLE orders ADD CONSTRAINT orders_status_known
    CHECK (status IN ('pending', 'paid', 'shipped', 'completed', 'cancelled'));
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
