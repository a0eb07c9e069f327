//! Carts, orders and idempotency keys.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
-- One open cart per user.
CREATE TABLE carts (
    id         UUID PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT carts_one_per_user UNIQUE (user_id)
);

CREATE TABLE cart_items (
    id         UUID PRIMARY KEY,
    cart_id    UUID NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    product_id UUID NOT NULL REFERENCES products (id),
    quantity   INTEGER NOT NULL,
    added_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT cart_items_one_line_per_product UNIQUE (cart_id, product_id),
    CONSTRAINT cart_items_quantity_positive CHECK (quantity BETWEEN 1 AND 1000)
);

CREATE TABLE orders (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users (id),
    status      TEXT NOT NULL DEFAULT 'pending',
    total_cents BIGINT NOT NULL,
    currency    TEXT NOT NULL,
    note        TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT orders_note_length CHECK (length(note) <= 500),
    CONSTRAINT orders_status_known CHECK (status IN ('pending', 'paid', 'shipped', 'completed', 'cancelled')),
    CONSTRAINT orders_total_non_negative CHECK (total_cents >= 0),
    CONSTRAINT orders_currency_iso CHECK (currency ~ '^[A-Z]{3}$')
);
CREATE INDEX orders_user_newest_idx ON orders (user_id, created_at DESC);
CREATE INDEX orders_status_idx ON orders (status);

-- Price and name are snapshots: later catalogue changes do not rewrite history.
CREATE TABLE order_items (
    id               BIGSERIAL PRIMARY KEY,
    order_id         UUID NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id       UUID NOT NULL REFERENCES products (id),
    name             TEXT NOT NULL,
    unit_price_cents BIGINT NOT NULL,
    quantity         INTEGER NOT NULL,
    line_total_cents BIGINT NOT NULL,
    CONSTRAINT order_items_one_line_per_product UNIQUE (order_id, product_id),
    CONSTRAINT order_items_quantity_positive CHECK (quantity > 0),
    CONSTRAINT order_items_price_non_negative CHECK (unit_price_cents >= 0),
    CONSTRAINT order_items_line_total CHECK (line_total_cents = unit_price_cents * quantity)
);

-- The first response to (user, Idempotency-Key), replayed for 24 hours.
CREATE TABLE idempotency_keys (
    user_id         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key             TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'in_progress',
    response_status INTEGER,
    response_body   JSONB,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at      TIMESTAMPTZ NOT NULL DEFAULT now() + interval '24 hours',
    PRIMARY KEY (user_id, key),
    CONSTRAINT idempotency_keys_key_length CHECK (length(key) BETWEEN 1 AND 255),
    CONSTRAINT idempotency_keys_state_known CHECK (state IN ('in_progress', 'done')),
    CONSTRAINT idempotency_keys_done_has_response CHECK (
        state = 'in_progress' OR (response_status IS NOT NULL AND response_body IS NOT NULL))
);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(UP).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "DROP TABLE idempotency_keys; DROP TABLE order_items; DROP TABLE orders; \
                 DROP TABLE cart_items; DROP TABLE carts;",
            )
            .await?;
        Ok(())
    }
}
