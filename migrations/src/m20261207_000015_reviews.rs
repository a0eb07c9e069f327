//! Product reviews (issue 14): verified buyers review, admins moderate, customers vote.
//!
//! - `reviews`: one per customer per product (`reviews_one_per_customer`, which also
//!   decides two concurrent submissions: one row, the other a conflict). `order_id`
//!   names the order that verifies the purchase, and the composite foreign key to
//!   `order_items (order_id, product_id)` holds that this order contains the product.
//!   `status` is `pending` → `approved` / `rejected` (and back by an admin); a rejected
//!   review carries its reason and only it does; a moderated one its time.
//!   `helpful_count` is the number of its `review_votes`, kept in the transaction
//!   that adds or removes a vote. Text is stored as written (escaped on output).
//! - `review_votes`: one helpful vote per user per review (the primary key decides
//!   concurrent votes).
//! - `product_ratings` (migration 0013) counts exactly the approved reviews: the
//!   moderation that approves or un-approves a review changes it in its transaction.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE reviews (
    id               UUID PRIMARY KEY,
    product_id       UUID NOT NULL REFERENCES products (id),
    user_id          UUID NOT NULL REFERENCES users (id),
    order_id         UUID NOT NULL REFERENCES orders (id),
    rating           INTEGER NOT NULL,
    title            TEXT NOT NULL,
    body             TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending',
    rejection_reason TEXT,
    moderated_by     UUID REFERENCES users (id) ON DELETE SET NULL,
    moderated_at     TIMESTAMPTZ,
    helpful_count    INTEGER NOT NULL DEFAULT 0,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT reviews_one_per_customer UNIQUE (product_id, user_id),
    CONSTRAINT reviews_order_has_product FOREIGN KEY (order_id, product_id)
        REFERENCES order_items (order_id, product_id),
    CONSTRAINT reviews_rating_range CHECK (rating BETWEEN 1 AND 5),
    CONSTRAINT reviews_title_length CHECK (length(title) BETWEEN 1 AND 120),
    CONSTRAINT reviews_body_length CHECK (length(body) BETWEEN 1 AND 5000),
    CONSTRAINT reviews_status_known CHECK (status IN ('pending', 'approved', 'rejected')),
    CONSTRAINT reviews_rejection_reason CHECK (
        (status = 'rejected') = (rejection_reason IS NOT NULL)
        AND length(rejection_reason) BETWEEN 1 AND 500),
    CONSTRAINT reviews_moderated CHECK ((status = 'pending') = (moderated_at IS NULL)),
    CONSTRAINT reviews_helpful_non_negative CHECK (helpful_count >= 0)
);
CREATE INDEX reviews_approved_newest_idx ON reviews (product_id, created_at DESC, id)
    WHERE status = 'approved';
CREATE INDEX reviews_approved_helpful_idx
    ON reviews (product_id, helpful_count DESC, created_at DESC, id) WHERE status = 'approved';
CREATE INDEX reviews_moderation_queue_idx ON reviews (status, created_at, id);
CREATE INDEX reviews_user_idx ON reviews (user_id);
CREATE INDEX reviews_order_idx ON reviews (order_id, product_id);

CREATE TABLE review_votes (
    review_id  UUID NOT NULL REFERENCES reviews (id) ON DELETE CASCADE,
    user_id    UUID NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (review_id, user_id)
);
CREATE INDEX review_votes_user_idx ON review_votes (user_id);
"#;

const DOWN: &str = r#"
DROP TABLE review_votes;
DROP TABLE reviews;
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
