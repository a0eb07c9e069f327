//! Carts and orders: the heart of the shop.
//!
//! Invariants:
//! - no oversell: stock is decremented by conditional updates (`stock >= q`) inside
//!   the order transaction, in product-id order so concurrent orders cannot deadlock;
//! - an order, its items (with price snapshots), the emptied cart and its
//!   `order-placed` outbox event commit together or not at all;
//! - a user touches only their own cart and orders: another user's id is 404.
//!
//! Layers: `service` owns transactions, `place`, `repo`, `cart` and `idempotency`
//! take any connection; failures are [`error::OrderError`], mapped to the API's
//! error shape in one place.

pub mod cart;
pub mod error;
pub mod idempotency;
pub mod lifecycle;
pub mod place;
pub mod repo;
pub mod service;
