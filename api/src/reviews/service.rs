//! Review use cases that own their transaction (and the cache invalidation after it).

use std::time::Duration;

use redis::aio::ConnectionManager;
use sea_orm::{DatabaseConnection, TransactionTrait};
use uuid::Uuid;

use super::{
    error::ReviewError,
    model::{Moderation, NewReview, ReviewSort},
    repo::{self, Ratings, Review, ReviewFilter},
};
use crate::{
    audit::{self, AuditActor, Entry},
    auth::throttle,
    catalogue::cache::CatalogueCache,
};

/// The window of the submission limit.
const LIMIT_WINDOW: Duration = Duration::from_secs(3600);

/// The Redis counter of `user`'s review submissions this hour.
fn limit_key(user: Uuid) -> String {
    format!("reviews:sent:{user}")
}

/// Counts one submission of `user` against `max_per_hour`, in one Lua script shared
/// by every instance (a burst over all of them is counted exactly); refused past it,
/// with the time left in the window. Every submission with valid fields counts,
/// whatever its outcome: the limit bounds the work one account can cause.
async fn count_submission(
    redis: &mut ConnectionManager,
    user: Uuid,
    max_per_hour: u64,
) -> Result<(), ReviewError> {
    let key = limit_key(user);
    match throttle::reserve(redis, &[&key], &[max_per_hour], LIMIT_WINDOW).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err((_, retry_after))) => Err(ReviewError::RateLimited {
            retry_after,
            limit: max_per_hour,
        }),
        Err(e) => {
            tracing::warn!(error = %e, "redis unavailable");
            Err(ReviewError::LimiterUnavailable)
        }
    }
}

/// Stores the review of `product` by `user`, pending moderation: 404 unless the
/// product is on sale, 403 unless `user` bought it (an order that is paid, shipped or
/// delivered), 409 when `user` reviewed it before, 429 past the hourly limit.
///
/// One transaction decides and stores: the verifying order and then the product are
/// share-locked (in the order a cancellation locks them, so the two cannot deadlock),
/// so an order cancelled or a product unpublished concurrently either commits first
/// and is seen, or waits for the review to be stored.
pub async fn submit(
    db: &DatabaseConnection,
    redis: &mut ConnectionManager,
    max_per_hour: u64,
    user: Uuid,
    product: Uuid,
    review: &NewReview,
) -> Result<Review, ReviewError> {
    count_submission(redis, user, max_per_hour).await?;
    let txn = db.begin().await?;
    let Some(order) = repo::verifying_order(&txn, user, product).await? else {
        return Err(if repo::product_on_sale(&txn, product).await? {
            ReviewError::NotVerifiedBuyer
        } else {
            ReviewError::UnknownProduct
        });
    };
    if !repo::lock_product_on_sale(&txn, product).await? {
        return Err(ReviewError::UnknownProduct);
    }
    let stored = repo::insert(&txn, product, user, order, review)
        .await?
        .ok_or(ReviewError::AlreadyReviewed)?;
    txn.commit().await?;
    tracing::info!(review_id = %stored.id, product_id = %product, "review submitted");
    Ok(stored)
}

/// The rating statistics of a product on sale and one page of its approved reviews
/// (with how many there are); 404 for a product not on sale.
pub async fn public_page(
    db: &DatabaseConnection,
    product: Uuid,
    sort: ReviewSort,
    page: u64,
    page_size: u64,
) -> Result<(Ratings, Vec<Review>, u64), ReviewError> {
    if !repo::product_on_sale(db, product).await? {
        return Err(ReviewError::UnknownProduct);
    }
    let ratings = repo::ratings(db, product).await?;
    let (reviews, total) = repo::approved(db, product, sort, page, page_size).await?;
    Ok((ratings, reviews, total))
}

/// One page of the moderation queue.
pub async fn queue(
    db: &DatabaseConnection,
    filter: &ReviewFilter,
    page: u64,
    page_size: u64,
) -> Result<(Vec<Review>, u64), ReviewError> {
    Ok(repo::all(db, filter, page, page_size).await?)
}

/// An admin's moderation of review `id`, in one transaction: the review row is
/// locked, moved by the conditional update (409 naming the state now when it is in
/// none the move starts from: of two concurrent moderations the second sees the
/// first's result), the product's statistics follow (`+1` when it becomes approved,
/// `-1` when an approved review is rejected) and the audit row is appended. After the
/// commit, when the statistics changed, the catalogue cache is invalidated before the
/// answer, so every listing shows the new average.
pub async fn moderate(
    db: &DatabaseConnection,
    cache: &CatalogueCache,
    m: Moderation,
    id: Uuid,
    admin: Uuid,
    reason: Option<&str>,
    request_id: Option<String>,
) -> Result<Review, ReviewError> {
    let txn = db.begin().await?;
    let before = repo::lock(&txn, id)
        .await?
        .ok_or(ReviewError::UnknownReview)?;
    let conflict = || ReviewError::StateConflict {
        current: before.status.clone(),
    };
    if !m.from().contains(&before.status.as_str()) {
        return Err(conflict());
    }
    let after = repo::moderate(&txn, id, m, admin, reason)
        .await?
        .ok_or_else(conflict)?;
    // Approve starts only from an unapproved state, so it always adds one.
    let counted = match (before.status.as_str(), m) {
        (_, Moderation::Approve) => {
            repo::add_rating(&txn, after.product_id, after.rating).await?;
            true
        }
        ("approved", Moderation::Reject) => {
            repo::remove_rating(&txn, after.product_id, after.rating).await?;
            true
        }
        _ => false,
    };
    audit::record(
        &txn,
        Entry::new(AuditActor::Admin(admin), m.action(), "review", id)
            .before(&before)
            .after(&after)
            .request(request_id),
    )
    .await?;
    txn.commit().await?;
    if counted {
        crate::catalogue::service::written(cache).await;
    }
    tracing::info!(review_id = %id, status = %after.status, "review moderated");
    Ok(after)
}

/// Toggles the helpful vote of `user` on review `id`: removes it if there is one,
/// adds it otherwise; answers whether the vote is there now and the review's count.
/// 404 unless the review is approved and its product on sale (the product row
/// share-locked, so an unpublish committing meanwhile is seen), 403 on one's own
/// review. The review row is locked first, so one user's concurrent toggles
/// alternate, and the count moves only when a vote row was really added or removed:
/// it always equals the votes.
pub async fn toggle_vote(
    db: &DatabaseConnection,
    user: Uuid,
    id: Uuid,
) -> Result<(bool, i32), ReviewError> {
    let txn = db.begin().await?;
    let review = repo::lock(&txn, id)
        .await?
        .filter(|r| r.status == "approved")
        .ok_or(ReviewError::UnknownReview)?;
    if !repo::lock_product_on_sale(&txn, review.product_id).await? {
        return Err(ReviewError::UnknownReview);
    }
    if review.user_id == user {
        return Err(ReviewError::OwnReview);
    }
    let outcome = if repo::remove_vote(&txn, id, user).await? {
        (false, repo::add_helpful(&txn, id, -1).await?)
    } else if repo::add_vote(&txn, id, user).await? {
        (true, repo::add_helpful(&txn, id, 1).await?)
    } else {
        // Not reached while the lock is held; answered as the table says.
        (true, review.helpful_count)
    };
    txn.commit().await?;
    Ok(outcome)
}
