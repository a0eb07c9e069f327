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
pub use listing::{ListQuery, MAX_UNPAGED, Sort, all_active, count_active, list, with_images_only};
pub use products::{ProductPatch, Versioned, archive, by_id, insert, insert_many, update};
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
}

/// Columns of [`ProductRow`].
pub const COLUMNS: &str = "id, name, description, price_cents, currency, category, stock, \
     low_stock_threshold, status, version, created_at, updated_at";

#[derive(Debug, FromQueryResult)]
pub(super) struct Count {
    pub(super) total: i64,
}

#[cfg(test)]
mod tests {
    use sea_orm::{IdenStatic, Iterable};

    use crate::entities::products;

    #[test]
    fn the_product_row_reads_every_column_of_the_entity_in_order() {
        let entity: Vec<&str> = products::Column::iter().map(|c| c.as_str()).collect();
        assert_eq!(entity.join(", "), super::COLUMNS);
    }
}
