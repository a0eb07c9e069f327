//! The address book: each customer's shipping and billing addresses.
//!
//! Invariants:
//! - at most [`model::MAX_ADDRESSES`] addresses per customer;
//! - at most one default shipping and one default billing address per customer (the
//!   partial unique indexes of migration 0012 hold it in the schema too); a
//!   customer's first address is both, and a book that holds any address always has
//!   a default of each kind (deleting one hands its role to the oldest left);
//! - every write to a customer's book runs in one transaction that first locks the
//!   customer's `users` row, so concurrent writes from any number of instances are
//!   decided one after the other: no 21st row, never two defaults, never a 500 from a
//!   unique index;
//! - a customer reads and writes only their own addresses: another's id is 404.
//!
//! Layers: `service` owns transactions, `repo` takes any connection, `model` parses
//! input (built only through its `parse` functions); failures are
//! [`error::AddressError`], mapped to the API's error shape in one place.

pub mod error;
pub mod model;
pub mod repo;
pub mod service;
