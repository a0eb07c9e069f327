//! A catalogue a shop can run (issue 14), the shared schema:
//!
//! - `categories`: a tree (parent, slug, name, position). Each has a stable `code`,
//!   which products carry in `products.category` (a foreign key now, instead of the
//!   fixed `CHECK` list). The original shop's 12 categories are seeded with their
//!   codes, so the legacy routes read and accept them unchanged.
//! - `products.status`: `draft` (admins only), `published` (on sale, was `active`),
//!   `archived` (kept for orders, hidden). The partial indexes follow the rename.
//! - `product_ratings`: one row per reviewed product (count, sum, 1-5 histogram),
//!   maintained in the same transaction as the review moderation that changes it.
//! - `audit_log`: every admin write, append-only. A trigger refuses `UPDATE`,
//!   `DELETE` and `TRUNCATE`, whatever role asks, so the API cannot rewrite history.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE categories (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    code        TEXT NOT NULL,
    slug        TEXT NOT NULL,
    name        TEXT NOT NULL,
    parent_id   UUID REFERENCES categories (id) ON DELETE RESTRICT,
    position    INTEGER NOT NULL DEFAULT 0,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT categories_code_unique UNIQUE (code),
    CONSTRAINT categories_slug_unique UNIQUE (slug),
    CONSTRAINT categories_code_shape CHECK (code ~ '^[A-Z0-9]+(_[A-Z0-9]+)*$' AND length(code) <= 80),
    CONSTRAINT categories_slug_shape CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(slug) <= 80),
    CONSTRAINT categories_name_length CHECK (length(name) BETWEEN 1 AND 100),
    CONSTRAINT categories_position_range CHECK (position BETWEEN 0 AND 1000000),
    CONSTRAINT categories_not_own_parent CHECK (parent_id <> id)
);
CREATE INDEX categories_parent_idx ON categories (parent_id, position, name);
INSERT INTO categories (code, slug, name, position) VALUES
    ('FRUITS_VEGETABLES',    'fruits-vegetables',    'Fruits & Vegetables',    0),
    ('DAIRY_BAKERY',         'dairy-bakery',         'Dairy & Bakery',         1),
    ('SNACKS_BRANDED_FOODS', 'snacks-branded-foods', 'Snacks & Branded Foods', 2),
    ('BEVERAGES',            'beverages',            'Beverages',              3),
    ('PERSONAL_CARE',        'personal-care',        'Personal Care',          4),
    ('HOUSEHOLD_SUPPLIES',   'household-supplies',   'Household Supplies',     5),
    ('MEAT_SEAFOOD',         'meat-seafood',         'Meat & Seafood',         6),
    ('GOURMET_WORLD_FOOD',   'gourmet-world-food',   'Gourmet & World Food',   7),
    ('BABY_CARE',            'baby-care',            'Baby Care',              8),
    ('CLEANING_HOUSEHOLD',   'cleaning-household',   'Cleaning & Household',   9),
    ('STAPLES',              'staples',              'Staples',                10),
    ('PET_CARE',             'pet-care',             'Pet Care',               11);

ALTER TABLE products
    DROP CONSTRAINT products_category_known,
    DROP CONSTRAINT products_status_known,
    ALTER COLUMN status SET DEFAULT 'published';
UPDATE products SET status = 'published' WHERE status = 'active';
ALTER TABLE products
    ADD CONSTRAINT products_category_fk FOREIGN KEY (category) REFERENCES categories (code),
    ADD CONSTRAINT products_status_known CHECK (status IN ('draft', 'published', 'archived'));
DROP INDEX products_active_newest_idx;
DROP INDEX products_category_idx;
DROP INDEX products_price_idx;
CREATE INDEX products_published_newest_idx ON products (created_at DESC, id) WHERE status = 'published';
CREATE INDEX products_category_idx ON products (category) WHERE status = 'published';
CREATE INDEX products_price_idx ON products (price_cents) WHERE status = 'published';
-- Every product of a category, whatever its status (deleting a category counts them).
CREATE INDEX products_any_category_idx ON products (category);

CREATE TABLE product_ratings (
    product_id   UUID PRIMARY KEY REFERENCES products (id) ON DELETE CASCADE,
    rating_count INTEGER NOT NULL DEFAULT 0,
    rating_sum   INTEGER NOT NULL DEFAULT 0,
    stars_1      INTEGER NOT NULL DEFAULT 0,
    stars_2      INTEGER NOT NULL DEFAULT 0,
    stars_3      INTEGER NOT NULL DEFAULT 0,
    stars_4      INTEGER NOT NULL DEFAULT 0,
    stars_5      INTEGER NOT NULL DEFAULT 0,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT product_ratings_consistent CHECK (
        stars_1 >= 0 AND stars_2 >= 0 AND stars_3 >= 0 AND stars_4 >= 0 AND stars_5 >= 0
        AND rating_count = stars_1 + stars_2 + stars_3 + stars_4 + stars_5
        AND rating_sum = stars_1 + 2 * stars_2 + 3 * stars_3 + 4 * stars_4 + 5 * stars_5)
);

CREATE TABLE audit_log (
    id          BIGSERIAL PRIMARY KEY,
    actor_id    UUID,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    before      JSONB,
    after       JSONB,
    diff        JSONB NOT NULL DEFAULT '{}'::jsonb,
    request_id  TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT audit_log_actor_known CHECK (actor IN ('admin', 'system')),
    CONSTRAINT audit_log_action_shape CHECK (action ~ '^[a-z_]+\.[a-z_]+$' AND length(action) <= 60),
    CONSTRAINT audit_log_target_length CHECK (length(target_type) <= 40 AND length(target_id) <= 200),
    CONSTRAINT audit_log_request_id_length CHECK (length(request_id) <= 200)
);
CREATE INDEX audit_log_target_idx ON audit_log (target_type, target_id, id DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, id DESC);
CREATE INDEX audit_log_time_idx ON audit_log (created_at DESC, id DESC);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
"#;

const DOWN: &str = r#"
DROP TABLE audit_log;
DROP FUNCTION audit_log_append_only();
DROP TABLE product_ratings;
DROP INDEX products_any_category_idx;
DROP INDEX products_published_newest_idx;
DROP INDEX products_category_idx;
DROP INDEX products_price_idx;
ALTER TABLE products DROP CONSTRAINT products_category_fk, DROP CONSTRAINT products_status_known;
UPDATE products SET status = 'archived' WHERE status = 'draft';
UPDATE products SET status = 'active' WHERE status = 'published';
ALTER TABLE products ALTER COLUMN status SET DEFAULT 'active',
    ADD CONSTRAINT products_status_known CHECK (status IN ('active', 'archived'));
CREATE INDEX products_active_newest_idx ON products (created_at DESC, id) WHERE status = 'active';
CREATE INDEX products_category_idx ON products (category) WHERE status = 'active';
CREATE INDEX products_price_idx ON products (price_cents) WHERE status = 'active';
DROP TABLE categories;
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
