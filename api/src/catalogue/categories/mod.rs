//! Categories as data: a tree (parent, slug, name, position) in the `categories`
//! table, which products reference by `code` (`products.category`, a foreign key).
//!
//! Invariants:
//! - a category's `code` is derived from its first slug (`frozen-food` →
//!   `FROZEN_FOOD`) and never changes, so products, legacy clients and cached
//!   listings keep naming it when its slug or name change;
//! - the tree has no cycle and is at most [`MAX_DEPTH`] levels deep, with at most
//!   [`MAX_CATEGORIES`] categories: every category write takes one transaction-level
//!   advisory lock ([`repo::lock_tree`]) and decides under it, so two concurrent
//!   moves (A under B, B under A) are decided one after the other;
//! - a category with products (any status) or with children is never deleted: the
//!   delete locks the row (which waits for, then blocks, products being written into
//!   it) and counts under that lock; the foreign key refuses whatever slips past;
//! - every write appends its audit row in its own transaction and invalidates the
//!   catalogue cache after the commit and before it answers (`service`).

pub mod error;
pub mod model;
pub mod repo;
pub mod service;

pub use error::CategoryError;
pub use model::{
    CategoryNode, CategoryView, KnownCategories, MAX_CATEGORIES, MAX_DEPTH, NewCategory,
};
pub use service::{create, delete, known, resolve, tree, tree_rows, update};

#[cfg(test)]
mod tests;
