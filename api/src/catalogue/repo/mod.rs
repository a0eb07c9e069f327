//! Catalogue queries, one module per concern: listings, single products and their
//! writes, images, stock. Listing filters are bound parameters; only the `ORDER BY`
//! clause is chosen from a fixed set.

mod images;
mod listing;
mod products;
pub mod search;
mod stock;

use chrono::{DateTime, Utc};
use sea_orm::FromQueryResult;
use uuid::Uuid;

pub use images::{ImageBytes, image, image_etag, image_url, insert_image, with_images};
pub use listing::{
    ListQuery, MAX_UNPAGED, Sort, all_active, count_active, list, list_admin, with_images_only,
};
pub use products::{
    Moved, ProductPatch, Versioned, by_id, insert, insert_many, locked, transition, update,
};
pub use stock::{StockChange, adjust_stock};

/// A product row.
#[derive(Debug, Clone, FromQueryResult)]
pub struct ProductRow {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Price.
    pub price_cents: i64,
    /// Currency.
    pub currency: String,
    /// Category.
    pub category: String,
    /// Stock.
    pub stock: i32,
    /// Threshold.
    pub low_stock_threshold: i32,
    /// Status.
    pub status: String,
    /// Version.
    pub version: i32,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
    /// Approved reviews counted in `product_ratings` (`None`: no row yet).
    pub rating_count: Option<i32>,
    /// Sum of their stars.
    pub rating_sum: Option<i32>,
}

/// Columns of [`ProductRow`], read from [`FROM`] (or from a data-modifying `WITH`
/// named `p`, joined as [`FROM_CHANGED`]): the product's own columns as `p`, then its
/// rating statistics as `r`.
pub const COLUMNS: &str = "p.id, p.name, p.description, p.price_cents, p.currency, p.category, \
     p.stock, p.low_stock_threshold, p.status, p.version, p.created_at, p.updated_at, \
     r.rating_count, r.rating_sum";

/// The `FROM` of every product read: the product `p` and its rating statistics `r`
/// (none before its first approved review). Filters and orders name the product's
/// columns unqualified: none of them but `updated_at` is also a column of
/// `product_ratings`.
pub const FROM: &str = "products p LEFT JOIN product_ratings r ON r.product_id = p.id";

/// The `FROM` after a write: `WITH changed AS (UPDATE products ... RETURNING *)
/// SELECT {COLUMNS} FROM {FROM_CHANGED}`, so a write answers the row as reads do.
pub const FROM_CHANGED: &str = "changed p LEFT JOIN product_ratings r ON r.product_id = p.id";

#[derive(Debug, FromQueryResult)]
pub(super) struct Count {
    pub(super) total: i64,
}

#[cfg(test)]
mod tests {
    use sea_orm::{IdenStatic, Iterable};

    use crate::entities::products;

    #[test]
    fn the_product_row_reads_every_column_of_the_entity_in_order_then_its_ratings() {
        let entity: Vec<String> = products::Column::iter()
            .map(|c| format!("p.{}", c.as_str()))
            .collect();
        assert_eq!(
            format!("{}, r.rating_count, r.rating_sum", entity.join(", ")),
            super::COLUMNS
        );
    }
}
