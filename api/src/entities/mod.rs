//! sea-orm entities of the tables, matching `migrations/src/` column for column.

pub mod cart_items;
pub mod carts;
pub mod product_images;
pub mod products;
