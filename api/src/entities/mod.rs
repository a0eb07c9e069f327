//! sea-orm entities of the migrated tables (`migrations/`): the schema is the truth.
//! `api/tests/in_process/schema.rs` fails when an entity and the migrated schema
//! disagree.

pub mod cart_items;
pub mod carts;
pub mod product_images;
pub mod products;
pub mod refresh_tokens;
pub mod users;
