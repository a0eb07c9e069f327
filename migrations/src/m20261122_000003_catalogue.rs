//! The product catalogue: products, their images (bytes in PostgreSQL, so every
//! instance serves them) and the inventory ledger.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE products (
    id                  UUID PRIMARY KEY,
    name                TEXT NOT NULL,
    description         TEXT NOT NULL DEFAULT '',
    price_cents         BIGINT NOT NULL,
    currency            TEXT NOT NULL DEFAULT 'USD',
    category            TEXT NOT NULL,
    stock               INTEGER NOT NULL,
    low_stock_threshold INTEGER NOT NULL DEFAULT 5,
    status              TEXT NOT NULL DEFAULT 'active',
    version             INTEGER NOT NULL DEFAULT 1,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT products_name_length CHECK (length(name) BETWEEN 1 AND 200),
    CONSTRAINT products_description_length CHECK (length(description) <= 5000),
    CONSTRAINT products_price_range CHECK (price_cents BETWEEN 0 AND 100000000),
    CONSTRAINT products_currency_iso CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT products_category_known CHECK (category IN (
        'FRUITS_VEGETABLES', 'DAIRY_BAKERY', 'SNACKS_BRANDED_FOODS', 'BEVERAGES',
        'PERSONAL_CARE', 'HOUSEHOLD_SUPPLIES', 'MEAT_SEAFOOD', 'GOURMET_WORLD_FOOD',
        'BABY_CARE', 'CLEANING_HOUSEHOLD', 'STAPLES', 'PET_CARE')),
    CONSTRAINT products_stock_non_negative CHECK (stock >= 0),
    CONSTRAINT products_threshold_non_negative CHECK (low_stock_threshold >= 0),
    CONSTRAINT products_status_known CHECK (status IN ('active', 'archived')),
    CONSTRAINT products_version_positive CHECK (version >= 1)
);
CREATE INDEX products_active_newest_idx ON products (created_at DESC, id) WHERE status = 'active';
CREATE INDEX products_category_idx ON products (category) WHERE status = 'active';
CREATE INDEX products_price_idx ON products (price_cents) WHERE status = 'active';

CREATE TABLE product_images (
    id           UUID PRIMARY KEY,
    product_id   UUID NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    content_type TEXT NOT NULL,
    bytes        BYTEA NOT NULL,
    sha256       TEXT NOT NULL,
    position     INTEGER NOT NULL DEFAULT 0,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT product_images_type_known CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp')),
    CONSTRAINT product_images_size CHECK (octet_length(bytes) BETWEEN 1 AND 5242880),
    CONSTRAINT product_images_sha256_hex CHECK (sha256 ~ '^[0-9a-f]{64}$')
);
CREATE INDEX product_images_product_idx ON product_images (product_id, position);

-- Every stock change, with its reason: admin adjustments and orders.
CREATE TABLE inventory_movements (
    id          BIGSERIAL PRIMARY KEY,
    product_id  UUID NOT NULL REFERENCES products (id),
    delta       INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    order_id    UUID,
    event_id    UUID,
    created_by  UUID REFERENCES users (id),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT inventory_movements_delta_non_zero CHECK (delta <> 0),
    CONSTRAINT inventory_movements_reason_length CHECK (length(reason) BETWEEN 1 AND 200),
    CONSTRAINT inventory_movements_once_per_event UNIQUE (event_id, product_id)
);
CREATE INDEX inventory_movements_product_idx ON inventory_movements (product_id, created_at);
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
                "DROP TABLE inventory_movements; DROP TABLE product_images; DROP TABLE products;",
            )
            .await?;
        Ok(())
    }
}
