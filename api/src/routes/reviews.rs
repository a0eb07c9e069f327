//! Reviews: `POST`/`GET /api/products/{id}/reviews`, `POST /api/reviews/{id}/helpful`,
//! and the moderation queue under `/api/admin/reviews`.
//!
//! Review text (title, body, author name, rejection reason) is stored as written and
//! sent HTML-escaped (`&`, `<`, `>`, `"`, `'` as entities), so a page may insert it as
//! it comes.

use chrono::{DateTime, Utc};
use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{ApiTags, orders::order_page, outcomes};
use crate::{
    auth::extract::{AdminAuth, BearerAuth},
    catalogue::model::rating_average,
    envelope::{Envelope, Pagination},
    error::Failure,
    json_body::JsonBody,
    middleware::RequestId,
    reviews::{
        model::{Moderation, NewReview, ReviewSort, ReviewStatus, escape_html, parse_reason},
        repo::{Ratings, Review, ReviewFilter},
        service,
    },
    state::SharedState,
};

/// A review as customers see it. Text fields are HTML-escaped.
#[derive(Debug, Clone, Object)]
pub struct ReviewView {
    /// Id.
    pub id: Uuid,
    /// The product reviewed.
    pub product_id: Uuid,
    /// The author's name, HTML-escaped (`<` is sent as `&lt;`, `&` as `&amp;`...).
    pub author_name: String,
    /// 1 to 5 stars.
    pub rating: i32,
    /// Title, HTML-escaped.
    pub title: String,
    /// Body, HTML-escaped; newlines kept as `\n`.
    pub body: String,
    /// `pending` (just submitted, seen by its author and admins only), `approved`
    /// (public) or `rejected`.
    pub status: ReviewStatus,
    /// Always `true`: only buyers of the product (a paid, shipped or delivered order)
    /// can review it.
    pub verified_purchase: bool,
    /// Helpful votes.
    pub helpful_count: i32,
    /// Written.
    pub created_at: DateTime<Utc>,
}

fn status(r: &Review) -> ReviewStatus {
    ReviewStatus::parse(&r.status).unwrap_or(ReviewStatus::Pending)
}

impl From<&Review> for ReviewView {
    fn from(r: &Review) -> Self {
        Self {
            id: r.id,
            product_id: r.product_id,
            author_name: escape_html(&r.author_name),
            rating: r.rating,
            title: escape_html(&r.title),
            body: escape_html(&r.body),
            status: status(r),
            verified_purchase: true,
            helpful_count: r.helpful_count,
            created_at: r.created_at,
        }
    }
}

/// A review as admins see it. Text fields are HTML-escaped.
#[derive(Debug, Clone, Object)]
pub struct AdminReviewView {
    /// Id.
    pub id: Uuid,
    /// The product reviewed.
    pub product_id: Uuid,
    /// The author.
    pub user_id: Uuid,
    /// The author's name, HTML-escaped.
    pub author_name: String,
    /// The order that verifies the purchase.
    pub order_id: Uuid,
    /// 1 to 5 stars.
    pub rating: i32,
    /// Title, HTML-escaped.
    pub title: String,
    /// Body, HTML-escaped.
    pub body: String,
    /// `pending`, `approved` or `rejected`.
    pub status: ReviewStatus,
    /// Always `true` (see [`ReviewView`]).
    pub verified_purchase: bool,
    /// Why it was rejected, HTML-escaped; `null` unless rejected.
    #[oai(nullable)]
    pub rejection_reason: Option<String>,
    /// The admin who moderated it last; `null` while pending.
    #[oai(nullable)]
    pub moderated_by: Option<Uuid>,
    /// When it was moderated last; `null` while pending.
    #[oai(nullable)]
    pub moderated_at: Option<DateTime<Utc>>,
    /// Helpful votes.
    pub helpful_count: i32,
    /// Written.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<&Review> for AdminReviewView {
    fn from(r: &Review) -> Self {
        Self {
            id: r.id,
            product_id: r.product_id,
            user_id: r.user_id,
            author_name: escape_html(&r.author_name),
            order_id: r.order_id,
            rating: r.rating,
            title: escape_html(&r.title),
            body: escape_html(&r.body),
            status: status(r),
            verified_purchase: true,
            rejection_reason: r.rejection_reason.as_deref().map(escape_html),
            moderated_by: r.moderated_by,
            moderated_at: r.moderated_at,
            helpful_count: r.helpful_count,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// How many approved reviews give a number of stars.
#[derive(Debug, Clone, Object)]
pub struct StarCount {
    /// 1 to 5.
    pub stars: i32,
    /// Approved reviews with that many stars.
    pub count: i32,
}

/// A product's rating statistics, over its approved reviews: exact at every moment
/// (changed in the transaction of each moderation).
#[derive(Debug, Clone, Object)]
pub struct RatingStatistics {
    /// The average stars, rounded half up to one decimal (a number such as `4.3`);
    /// `null` while no review is approved.
    #[oai(nullable)]
    pub average: Option<f64>,
    /// How many approved reviews.
    pub count: i32,
    /// Per number of stars, 1 to 5 in that order (always five entries).
    pub histogram: Vec<StarCount>,
}

impl From<&Ratings> for RatingStatistics {
    fn from(r: &Ratings) -> Self {
        let stars = [r.stars_1, r.stars_2, r.stars_3, r.stars_4, r.stars_5];
        Self {
            average: rating_average(r.rating_count.into(), r.rating_sum.into()),
            count: r.rating_count,
            histogram: (1..=5)
                .zip(stars)
                .map(|(stars, count)| StarCount { stars, count })
                .collect(),
        }
    }
}

/// A page of a product's approved reviews with its statistics.
#[derive(Debug, Clone, Object)]
pub struct ProductReviews {
    /// The product.
    pub product_id: Uuid,
    /// Its rating statistics (over all its approved reviews, not only this page).
    pub statistics: RatingStatistics,
    /// This page of its approved reviews.
    pub reviews: Vec<ReviewView>,
}

/// `POST /api/products/{id}/reviews`.
#[derive(Debug, Object)]
pub struct NewReviewRequest {
    /// 1 to 5 stars.
    pub rating: i64,
    /// 1 to 120 characters after trimming, one line (no control characters).
    pub title: String,
    /// 1 to 5000 characters after trimming; newlines allowed, no other control
    /// characters. HTML is kept as text (escaped when shown).
    pub body: String,
}

/// `POST /api/admin/reviews/{id}/reject`.
#[derive(Debug, Object)]
pub struct RejectRequest {
    /// Why (required, 1 to 500 characters after trimming).
    pub reason: String,
}

/// What a helpful vote toggle left.
#[derive(Debug, Clone, Object)]
pub struct HelpfulVote {
    /// The review.
    pub review_id: Uuid,
    /// Whether my vote is on the review now (`true` after adding, `false` after
    /// taking it back).
    pub voted: bool,
    /// The review's helpful votes now.
    pub helpful_count: i32,
}

/// 201 with the new review.
#[derive(ApiResponse)]
pub enum Submitted {
    /// Stored as `pending`: public once an admin approves it.
    #[oai(status = 201)]
    Created(Json<Envelope<ReviewView>>),
}

/// The customer-facing review endpoints.
pub struct ReviewsApi;

#[OpenApi(tag = "ApiTags::Reviews")]
impl ReviewsApi {
    /// Review a product I bought: 1 to 5 stars, a title and a body. Only a verified
    /// buyer (a paid, shipped or delivered order of the product) may: 403
    /// `REVIEW_NOT_VERIFIED_BUYER` otherwise. One review per product (409). The review
    /// is `pending` until an admin approves it. At most `REVIEWS_MAX_PER_HOUR`
    /// submissions an hour (10 by default; 429 with `Retry-After`).
    #[oai(
        path = "/api/products/:id/reviews",
        method = "post",
        operation_id = "reviews_submit"
    )]
    async fn submit(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: JsonBody<NewReviewRequest>,
    ) -> Result<Submitted, Failure<outcomes::SubmitReview>> {
        let review = NewReview::parse(body.rating, &body.title, &body.body)?;
        let mut redis = state.redis.clone();
        let stored = service::submit(
            &state.db,
            &mut redis,
            state.settings.reviews_max_per_hour,
            auth.0.sub,
            id.0,
            &review,
        )
        .await?;
        Ok(Submitted::Created(Json(Envelope::new(
            ReviewView::from(&stored),
            "review submitted; it is public once approved",
        ))))
    }

    /// A product's approved reviews, paged (newest or most helpful first), with its
    /// rating statistics: average, count and 1-5 histogram. Text is HTML-escaped. 404
    /// for a product not on sale.
    #[oai(
        path = "/api/products/:id/reviews",
        method = "get",
        operation_id = "reviews_list"
    )]
    async fn list(
        &self,
        state: Data<&SharedState>,
        id: Path<Uuid>,
        /// `newest` (default) or `most_helpful`.
        sort: Query<Option<ReviewSort>>,
        /// 1-based page (default 1); `page × page_size` at most 10,000 (422 beyond).
        page: Query<Option<u64>>,
        /// Items per page, 1 to 100 (default 20).
        page_size: Query<Option<u64>>,
    ) -> Result<Json<Envelope<ProductReviews>>, Failure<outcomes::ListReviews>> {
        let (page, page_size) = order_page(page.0, page_size.0)?;
        let (ratings, reviews, total) =
            service::public_page(&state.db, id.0, sort.0.unwrap_or_default(), page, page_size)
                .await?;
        Ok(Json(Envelope::paged(
            ProductReviews {
                product_id: id.0,
                statistics: RatingStatistics::from(&ratings),
                reviews: reviews.iter().map(ReviewView::from).collect(),
            },
            "reviews",
            Pagination {
                page,
                page_size,
                total,
            },
        )))
    }

    /// Mark an approved review helpful, or take my vote back: each call toggles (one
    /// vote per user per review). 403 `REVIEW_OWN_VOTE` on my own review; 404 unless
    /// the review is approved.
    #[oai(
        path = "/api/reviews/:id/helpful",
        method = "post",
        operation_id = "reviews_toggle_helpful"
    )]
    async fn helpful(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Json<Envelope<HelpfulVote>>, Failure<outcomes::VoteReview>> {
        let (voted, helpful_count) = service::toggle_vote(&state.db, auth.0.sub, id.0).await?;
        Ok(Json(Envelope::new(
            HelpfulVote {
                review_id: id.0,
                voted,
                helpful_count,
            },
            if voted { "vote added" } else { "vote removed" },
        )))
    }
}

/// Review moderation (admin only).
pub struct AdminReviewsApi;

impl AdminReviewsApi {
    async fn moderate(
        state: &SharedState,
        admin: &AdminAuth,
        req: &Request,
        id: Uuid,
        m: Moderation,
        reason: Option<&str>,
    ) -> Result<Json<Envelope<AdminReviewView>>, crate::error::ApiError> {
        let review = service::moderate(
            &state.db,
            &state.catalogue,
            m,
            id,
            admin.0.sub,
            reason,
            req.data::<RequestId>().map(|r| r.0.clone()),
        )
        .await?;
        Ok(Json(Envelope::new(
            AdminReviewView::from(&review),
            format!("review {}", m.to().as_str()),
        )))
    }
}

#[OpenApi(prefix_path = "/api/admin/reviews", tag = "ApiTags::Admin")]
impl AdminReviewsApi {
    /// The reviews, oldest first (a queue is worked from its head), optionally only
    /// one status (`?status=pending` is the moderation queue) or one product's. Admin
    /// only.
    #[oai(path = "/", method = "get", operation_id = "admin_reviews_list")]
    async fn list(
        &self,
        state: Data<&SharedState>,
        _admin: AdminAuth,
        /// Only reviews in this status: `pending`, `approved` or `rejected`.
        status: Query<Option<ReviewStatus>>,
        /// Only this product's reviews.
        product_id: Query<Option<Uuid>>,
        /// 1-based page (default 1); `page × page_size` at most 10,000 (422 beyond).
        page: Query<Option<u64>>,
        /// Items per page, 1 to 100 (default 20).
        page_size: Query<Option<u64>>,
    ) -> Result<Json<Envelope<Vec<AdminReviewView>>>, Failure<outcomes::AdminRead>> {
        let (page, page_size) = order_page(page.0, page_size.0)?;
        let filter = ReviewFilter {
            status: status.0,
            product_id: product_id.0,
        };
        let (reviews, total) = service::queue(&state.db, &filter, page, page_size).await?;
        Ok(Json(Envelope::paged(
            reviews.iter().map(AdminReviewView::from).collect(),
            "reviews",
            Pagination {
                page,
                page_size,
                total,
            },
        )))
    }

    /// Approve a review (`pending` or `rejected` → `approved`): it becomes public and
    /// counts in the product's rating statistics at once (listings included). 409
    /// `REVIEW_STATE_CONFLICT` when it is approved already. Audited
    /// (`review.approve`). Admin only.
    #[oai(
        path = "/:id/approve",
        method = "post",
        operation_id = "admin_reviews_approve"
    )]
    async fn approve(
        &self,
        state: Data<&SharedState>,
        admin: AdminAuth,
        req: &Request,
        id: Path<Uuid>,
    ) -> Result<Json<Envelope<AdminReviewView>>, Failure<outcomes::ModerateReview>> {
        Ok(Self::moderate(&state, &admin, req, id.0, Moderation::Approve, None).await?)
    }

    /// Reject a review with a reason (`pending` or `approved` → `rejected`); an
    /// approved review leaves the public list and the statistics at once. 409
    /// `REVIEW_STATE_CONFLICT` when it is rejected already. Audited (`review.reject`).
    /// Admin only.
    #[oai(
        path = "/:id/reject",
        method = "post",
        operation_id = "admin_reviews_reject"
    )]
    async fn reject(
        &self,
        state: Data<&SharedState>,
        admin: AdminAuth,
        req: &Request,
        id: Path<Uuid>,
        body: JsonBody<RejectRequest>,
    ) -> Result<Json<Envelope<AdminReviewView>>, Failure<outcomes::ModerateReview>> {
        let reason = parse_reason(&body.reason)?;
        Ok(Self::moderate(&state, &admin, req, id.0, Moderation::Reject, Some(&reason)).await?)
    }
}
