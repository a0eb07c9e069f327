//! Product reviews: verified buyers write them, admins moderate them, customers mark
//! them helpful, and each product's rating statistics count the approved ones.
//!
//! Invariants:
//! - only a verified buyer reviews: the author has an order containing the product
//!   that is `paid`, `shipped` or `delivered` (money taken and not given back; a
//!   `pending` order may still expire unpaid, a `cancelled` or `refunded` one was never
//!   a purchase). The review names that order (`order_id`), and the schema holds that
//!   the order contains the product;
//! - one review per customer per product: the unique constraint decides, so of two
//!   concurrent submissions over any instances exactly one is stored;
//! - new reviews are `pending`; only `approved` ones are public (and can be voted on);
//! - each moderation is one transaction that locks the review row, moves it by a
//!   conditional update from the states the move starts from (a concurrent loser gets
//!   409 naming the state now), changes `product_ratings` by a relative upsert
//!   (`+1` on approval, `-1` when an approved review is rejected) and appends the
//!   audit row: `product_ratings` equals a recount of the approved reviews at every
//!   commit, whatever runs concurrently;
//! - `helpful_count` equals the review's `review_votes`: a vote is inserted or deleted
//!   (the primary key decides concurrent ones) and the count moves by one only when a
//!   row was, in the same transaction;
//! - text is stored as written and HTML-escaped on output ([`model::escape_html`]);
//! - a user submits at most `REVIEWS_MAX_PER_HOUR` reviews an hour, counted in Redis
//!   for every instance at once (one Lua script).
//!
//! Layers: `service` owns transactions, `repo` takes any connection, `model` parses
//! input; failures are [`error::ReviewError`], mapped to the API's error shape in one
//! place.

pub mod error;
pub mod model;
pub mod repo;
pub mod service;
