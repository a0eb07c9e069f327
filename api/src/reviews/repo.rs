//! The `reviews`, `review_votes` and `product_ratings` tables: queries on any
//! connection (the transactions and the row lock that orders a review's moderations
//! and votes are in `service`).

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Value};
use uuid::Uuid;

use super::model::{Moderation, NewReview, ReviewSort, ReviewStatus};
use crate::{orders::place::pg_array, sql::stmt};

/// A stored review, with its author's name. Text as written (escape it on output).
#[derive(Debug, Clone, FromQueryResult, serde::Serialize)]
pub struct Review {
    /// Id.
    pub id: Uuid,
    /// The product reviewed.
    pub product_id: Uuid,
    /// The author.
    pub user_id: Uuid,
    /// The author's name.
    pub author_name: String,
    /// The order that verifies the purchase.
    pub order_id: Uuid,
    /// 1 to 5 stars.
    pub rating: i32,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    /// Why it was rejected (only while rejected).
    pub rejection_reason: Option<String>,
    /// The admin who moderated it last.
    pub moderated_by: Option<Uuid>,
    /// When it was moderated last.
    pub moderated_at: Option<DateTime<Utc>>,
    /// Helpful votes.
    pub helpful_count: i32,
    /// Written.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Columns of [`Review`] over `r` (a review) and `u` (its author).
const COLUMNS: &str = "r.id, r.product_id, r.user_id, u.name AS author_name, r.order_id, \
    r.rating, r.title, r.body, r.status, r.rejection_reason, r.moderated_by, r.moderated_at, \
    r.helpful_count, r.created_at, r.updated_at";

/// The order statuses that make a purchase verified: money taken and not given back.
/// A `pending` order may still expire unpaid; `cancelled` and `refunded` were never a
/// purchase.
pub const VERIFYING_STATUSES: [&str; 3] = ["paid", "shipped", "delivered"];

#[derive(FromQueryResult)]
struct Id {
    id: Uuid,
}

#[derive(FromQueryResult)]
struct Count {
    n: i64,
}

/// Whether product `id` exists and is published.
pub async fn product_on_sale(db: &impl ConnectionTrait, id: Uuid) -> Result<bool, DbErr> {
    on_sale(db, id, "").await
}

/// [`product_on_sale`], the row share-locked until the transaction ends: an
/// unpublish waits for it (and it for an unpublish, then sees the new status).
pub async fn lock_product_on_sale(db: &impl ConnectionTrait, id: Uuid) -> Result<bool, DbErr> {
    on_sale(db, id, "FOR SHARE").await
}

async fn on_sale(db: &impl ConnectionTrait, id: Uuid, lock: &str) -> Result<bool, DbErr> {
    Ok(Id::find_by_statement(stmt(
        &format!("SELECT id FROM products WHERE id = $1 AND status = 'published' {lock}"),
        vec![id.into()],
    ))
    .one(db)
    .await?
    .is_some())
}

/// The oldest order of `user` that contains `product` and is in a
/// [`VERIFYING_STATUSES`] state, if any, share-locked until the transaction ends: a
/// cancellation of it waits, and one committed meanwhile is seen (the row is read
/// again after the wait), so a cancelled order never verifies.
pub async fn verifying_order(
    db: &impl ConnectionTrait,
    user: Uuid,
    product: Uuid,
) -> Result<Option<Uuid>, DbErr> {
    Ok(Id::find_by_statement(stmt(
        "SELECT o.id FROM orders o
         JOIN order_items i ON i.order_id = o.id AND i.product_id = $2
         WHERE o.user_id = $1 AND o.status = ANY ($3::text[])
         ORDER BY o.created_at, o.id LIMIT 1 FOR SHARE OF o",
        vec![
            user.into(),
            product.into(),
            pg_array(VERIFYING_STATUSES).into(),
        ],
    ))
    .one(db)
    .await?
    .map(|r| r.id))
}

/// Stores a pending review of `product` by `user`, verified by `order`; `None` when
/// `user` reviewed `product` before (the unique constraint decides, so of concurrent
/// submissions exactly one is stored).
pub async fn insert(
    db: &impl ConnectionTrait,
    product: Uuid,
    user: Uuid,
    order: Uuid,
    review: &NewReview,
) -> Result<Option<Review>, DbErr> {
    Review::find_by_statement(stmt(
        &format!(
            "WITH r AS (
                INSERT INTO reviews (id, product_id, user_id, order_id, rating, title, body)
                VALUES ($1, $2, $3, $4, $5, $6, $7)
                ON CONFLICT ON CONSTRAINT reviews_one_per_customer DO NOTHING
                RETURNING *)
             SELECT {COLUMNS} FROM r JOIN users u ON u.id = r.user_id"
        ),
        vec![
            Uuid::now_v7().into(),
            product.into(),
            user.into(),
            order.into(),
            review.rating.into(),
            review.title.clone().into(),
            review.body.clone().into(),
        ],
    ))
    .one(db)
    .await
}

/// Review `id`, whatever its state.
pub async fn get(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<Review>, DbErr> {
    Review::find_by_statement(stmt(
        &format!(
            "SELECT {COLUMNS} FROM reviews r JOIN users u ON u.id = r.user_id WHERE r.id = $1"
        ),
        vec![id.into()],
    ))
    .one(db)
    .await
}

/// Locks review `id` until the transaction ends and answers it as it is now (the
/// newest committed version: a moderation or vote that held the lock before is
/// seen). `FOR NO KEY UPDATE`: votes, which refer to the review by key, are not held
/// up before they take this lock themselves.
pub async fn lock(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<Review>, DbErr> {
    Review::find_by_statement(stmt(
        &format!(
            "SELECT {COLUMNS} FROM reviews r JOIN users u ON u.id = r.user_id WHERE r.id = $1
             FOR NO KEY UPDATE OF r"
        ),
        vec![id.into()],
    ))
    .one(db)
    .await
}

/// The conditional update of a moderation: review `id` moves to `m.to()` only from a
/// state of `m.from()`; `None` when it is in none of them (or gone).
pub async fn moderate(
    db: &impl ConnectionTrait,
    id: Uuid,
    m: Moderation,
    admin: Uuid,
    reason: Option<&str>,
) -> Result<Option<Review>, DbErr> {
    Review::find_by_statement(stmt(
        &format!(
            "WITH r AS (
                UPDATE reviews SET status = $2, rejection_reason = $3, moderated_by = $4,
                       moderated_at = now(), updated_at = now()
                WHERE id = $1 AND status = ANY ($5::text[])
                RETURNING *)
             SELECT {COLUMNS} FROM r JOIN users u ON u.id = r.user_id"
        ),
        vec![
            id.into(),
            m.to().as_str().into(),
            reason.map(str::to_owned).into(),
            admin.into(),
            pg_array(m.from()).into(),
        ],
    ))
    .one(db)
    .await
}

/// Counts one more approved review of `rating` stars in the statistics of
/// `product`: one relative upsert, so concurrent approvals add up (the upsert's row
/// lock orders them) and none is lost.
pub async fn add_rating(
    db: &impl ConnectionTrait,
    product: Uuid,
    rating: i32,
) -> Result<(), DbErr> {
    db.execute_raw(stmt(
        "INSERT INTO product_ratings AS t (product_id, rating_count, rating_sum,
                stars_1, stars_2, stars_3, stars_4, stars_5)
         VALUES ($1, 1, $2, ($2 = 1)::int, ($2 = 2)::int, ($2 = 3)::int, ($2 = 4)::int,
                 ($2 = 5)::int)
         ON CONFLICT (product_id) DO UPDATE SET
             rating_count = t.rating_count + 1,
             rating_sum = t.rating_sum + EXCLUDED.rating_sum,
             stars_1 = t.stars_1 + EXCLUDED.stars_1,
             stars_2 = t.stars_2 + EXCLUDED.stars_2,
             stars_3 = t.stars_3 + EXCLUDED.stars_3,
             stars_4 = t.stars_4 + EXCLUDED.stars_4,
             stars_5 = t.stars_5 + EXCLUDED.stars_5,
             updated_at = now()",
        vec![product.into(), rating.into()],
    ))
    .await?;
    Ok(())
}

/// Counts one approved review of `rating` stars less (it was rejected): a relative
/// update of the row its approval made. A row missing, or a count going below zero
/// (the table's `CHECK`), is an error: the statistics never silently drift.
pub async fn remove_rating(
    db: &impl ConnectionTrait,
    product: Uuid,
    rating: i32,
) -> Result<(), DbErr> {
    let r = db
        .execute_raw(stmt(
            "UPDATE product_ratings SET
                 rating_count = rating_count - 1,
                 rating_sum = rating_sum - $2,
                 stars_1 = stars_1 - ($2 = 1)::int,
                 stars_2 = stars_2 - ($2 = 2)::int,
                 stars_3 = stars_3 - ($2 = 3)::int,
                 stars_4 = stars_4 - ($2 = 4)::int,
                 stars_5 = stars_5 - ($2 = 5)::int,
                 updated_at = now()
             WHERE product_id = $1",
            vec![product.into(), rating.into()],
        ))
        .await?;
    if r.rows_affected() != 1 {
        return Err(DbErr::RecordNotUpdated);
    }
    Ok(())
}

/// A product's rating statistics: the approved reviews.
#[derive(Debug, Clone, Default, FromQueryResult)]
pub struct Ratings {
    /// How many.
    pub rating_count: i32,
    /// The sum of their stars.
    pub rating_sum: i32,
    /// 1-star reviews.
    pub stars_1: i32,
    /// 2-star reviews.
    pub stars_2: i32,
    /// 3-star reviews.
    pub stars_3: i32,
    /// 4-star reviews.
    pub stars_4: i32,
    /// 5-star reviews.
    pub stars_5: i32,
}

/// The statistics of `product` (all zero before its first approved review).
pub async fn ratings(db: &impl ConnectionTrait, product: Uuid) -> Result<Ratings, DbErr> {
    Ok(Ratings::find_by_statement(stmt(
        "SELECT rating_count, rating_sum, stars_1, stars_2, stars_3, stars_4, stars_5
         FROM product_ratings WHERE product_id = $1",
        vec![product.into()],
    ))
    .one(db)
    .await?
    .unwrap_or_default())
}

/// One page of the approved reviews of `product`, and how many there are.
pub async fn approved(
    db: &impl ConnectionTrait,
    product: Uuid,
    sort: ReviewSort,
    page: u64,
    page_size: u64,
) -> Result<(Vec<Review>, u64), DbErr> {
    let order = match sort {
        ReviewSort::Newest => "r.created_at DESC, r.id",
        ReviewSort::MostHelpful => "r.helpful_count DESC, r.created_at DESC, r.id",
    };
    let offset = (page - 1).saturating_mul(page_size);
    let rows = Review::find_by_statement(stmt(
        &format!(
            "SELECT {COLUMNS} FROM reviews r JOIN users u ON u.id = r.user_id
             WHERE r.product_id = $1 AND r.status = 'approved'
             ORDER BY {order} LIMIT {page_size} OFFSET {offset}"
        ),
        vec![product.into()],
    ))
    .all(db)
    .await?;
    let total = Count::find_by_statement(stmt(
        "SELECT count(*) AS n FROM reviews WHERE product_id = $1 AND status = 'approved'",
        vec![product.into()],
    ))
    .one(db)
    .await?
    .map_or(0, |c| c.n.max(0) as u64);
    Ok((rows, total))
}

/// What the admin queue filters by.
#[derive(Debug, Clone, Default)]
pub struct ReviewFilter {
    /// Only this state.
    pub status: Option<ReviewStatus>,
    /// Only this product's.
    pub product_id: Option<Uuid>,
}

/// One page of every review matching `filter`, oldest first (a moderation queue is
/// worked from its head), and how many match.
pub async fn all(
    db: &impl ConnectionTrait,
    filter: &ReviewFilter,
    page: u64,
    page_size: u64,
) -> Result<(Vec<Review>, u64), DbErr> {
    const WHERE: &str =
        "($1::text IS NULL OR r.status = $1) AND ($2::uuid IS NULL OR r.product_id = $2)";
    let values: Vec<Value> = vec![
        filter.status.map(|s| s.as_str().to_owned()).into(),
        filter.product_id.into(),
    ];
    let offset = (page - 1).saturating_mul(page_size);
    let rows = Review::find_by_statement(stmt(
        &format!(
            "SELECT {COLUMNS} FROM reviews r JOIN users u ON u.id = r.user_id WHERE {WHERE}
             ORDER BY r.created_at, r.id LIMIT {page_size} OFFSET {offset}"
        ),
        values.clone(),
    ))
    .all(db)
    .await?;
    let total = Count::find_by_statement(stmt(
        &format!("SELECT count(*) AS n FROM reviews r WHERE {WHERE}"),
        values,
    ))
    .one(db)
    .await?
    .map_or(0, |c| c.n.max(0) as u64);
    Ok((rows, total))
}

/// Removes the helpful vote of `user` on `review`; whether there was one.
pub async fn remove_vote(
    db: &impl ConnectionTrait,
    review: Uuid,
    user: Uuid,
) -> Result<bool, DbErr> {
    let r = db
        .execute_raw(stmt(
            "DELETE FROM review_votes WHERE review_id = $1 AND user_id = $2",
            vec![review.into(), user.into()],
        ))
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Adds a helpful vote of `user` on `review`; whether it was added (the primary key
/// refuses a second one).
pub async fn add_vote(db: &impl ConnectionTrait, review: Uuid, user: Uuid) -> Result<bool, DbErr> {
    let r = db
        .execute_raw(stmt(
            "INSERT INTO review_votes (review_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            vec![review.into(), user.into()],
        ))
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Moves the helpful count of `review` by `delta` (a vote row was just added or
/// removed in this transaction); the count now.
pub async fn add_helpful(
    db: &impl ConnectionTrait,
    review: Uuid,
    delta: i32,
) -> Result<i32, DbErr> {
    #[derive(FromQueryResult)]
    struct Helpful {
        helpful_count: i32,
    }
    Ok(Helpful::find_by_statement(stmt(
        "UPDATE reviews SET helpful_count = helpful_count + $2 WHERE id = $1 RETURNING helpful_count",
        vec![review.into(), delta.into()],
    ))
    .one(db)
    .await?
    .map_or(0, |h| h.helpful_count))
}
