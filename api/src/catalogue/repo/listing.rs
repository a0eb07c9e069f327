//! Listings of active products: paged and filtered, or unpaged up to
//! [`MAX_UNPAGED`].

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Value};

use super::{COLUMNS, Count, FROM, ProductRow, with_images};
use crate::{
    catalogue::model::{Product, ProductStatus},
    sql::stmt,
};

/// Sort orders of listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum, serde::Serialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Newest first.
    Newest,
    /// Cheapest first.
    PriceAsc,
    /// Dearest first.
    PriceDesc,
    /// By name.
    Name,
}

impl Sort {
    fn order_by(self) -> &'static str {
        match self {
            Self::Newest => "created_at DESC, id",
            Self::PriceAsc => "price_cents ASC, id",
            Self::PriceDesc => "price_cents DESC, id",
            Self::Name => "lower(name) ASC, id",
        }
    }
}

/// A listing query, validated.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ListQuery {
    /// 1-based page.
    pub page: u64,
    /// Page size, 1..=100.
    pub page_size: u64,
    /// Category filter: the code of a category the table holds; the listing shows
    /// its products and those of all its descendants.
    pub category: Option<String>,
    /// Minimum price.
    pub min_price_cents: Option<i64>,
    /// Maximum price.
    pub max_price_cents: Option<i64>,
    /// Only products in stock (true) or out of stock (false).
    pub in_stock: Option<bool>,
    /// Full-text search over name, category name and description.
    pub q: Option<String>,
    /// Order.
    pub sort: Sort,
}

/// One page of active products and the total matching.
pub async fn list(db: &impl ConnectionTrait, q: &ListQuery) -> Result<(Vec<Product>, u64), DbErr> {
    let mut conditions = vec!["status = 'published'".to_owned()];
    let mut values: Vec<Value> = Vec::new();
    let bind = |v: Value, values: &mut Vec<Value>| {
        values.push(v);
        format!("${}", values.len())
    };
    if let Some(c) = &q.category {
        let p = bind(c.clone().into(), &mut values);
        // The category and its descendants (`UNION` stops on a repeated row).
        conditions.push(format!(
            "category IN (WITH RECURSIVE sub AS (
                 SELECT id, code FROM categories WHERE code = {p}
                 UNION
                 SELECT c.id, c.code FROM categories c JOIN sub ON c.parent_id = sub.id
             ) SELECT code FROM sub)"
        ));
    }
    if let Some(min) = q.min_price_cents {
        let p = bind(min.into(), &mut values);
        conditions.push(format!("price_cents >= {p}"));
    }
    if let Some(max) = q.max_price_cents {
        let p = bind(max.into(), &mut values);
        conditions.push(format!("price_cents <= {p}"));
    }
    match q.in_stock {
        Some(true) => conditions.push("stock > 0".into()),
        Some(false) => conditions.push("stock = 0".into()),
        None => {}
    }
    if let Some(text) = q.q.as_deref().filter(|t| !t.is_empty()) {
        // Full text (the search's document, kept by the database, on a GIN index):
        // whole words, stemmed, over name, category name and description.
        let p = bind(text.to_owned().into(), &mut values);
        conditions.push(format!(
            "search_document @@ plainto_tsquery('english', {p})"
        ));
    }
    let filter = conditions.join(" AND ");
    let total = Count::find_by_statement(stmt(
        &format!("SELECT count(*) AS total FROM products WHERE {filter}"),
        values.clone(),
    ))
    .one(db)
    .await?
    .map_or(0, |c| c.total.max(0) as u64);
    let offset = (q.page - 1).saturating_mul(q.page_size);
    let rows = ProductRow::find_by_statement(stmt(
        &format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE {filter} ORDER BY {} LIMIT {} OFFSET {offset}",
            q.sort.order_by(),
            q.page_size
        ),
        values,
    ))
    .all(db)
    .await?;
    Ok((with_images(db, rows).await?, total))
}

/// The most products an unpaged list (the legacy listing, `with-images`, the admin
/// products stat) holds: the newest ones. Larger catalogues page with
/// `GET /api/products`.
pub const MAX_UNPAGED: u64 = 1000;

/// Every active product (the seed's `all_products`), newest first (at most
/// [`MAX_UNPAGED`]).
pub async fn all_active(db: &impl ConnectionTrait) -> Result<Vec<Product>, DbErr> {
    let rows = ProductRow::find_by_statement(stmt(
        &format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE status = 'published' ORDER BY created_at DESC, id
             LIMIT {MAX_UNPAGED}"
        ),
        vec![],
    ))
    .all(db)
    .await?;
    with_images(db, rows).await
}

/// Active products that have at least one image (the seed's `products_with_images`).
pub async fn with_images_only(db: &impl ConnectionTrait) -> Result<Vec<Product>, DbErr> {
    let rows = ProductRow::find_by_statement(stmt(
        &format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE status = 'published'
             AND EXISTS (SELECT 1 FROM product_images i WHERE i.product_id = p.id)
             ORDER BY created_at DESC, id LIMIT {MAX_UNPAGED}"
        ),
        vec![],
    ))
    .all(db)
    .await?;
    with_images(db, rows).await
}

/// The number of active products (the seed's `total_products`).
pub async fn count_active(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    Ok(Count::find_by_statement(stmt(
        "SELECT count(*) AS total FROM products WHERE status = 'published'",
        vec![],
    ))
    .one(db)
    .await?
    .map_or(0, |c| c.total.max(0) as u64))
}

/// One page of every product for admins, drafts and archived ones included (or only
/// those in `status`), newest first, and the total matching. Never cached: admins
/// read what PostgreSQL holds.
pub async fn list_admin(
    db: &impl ConnectionTrait,
    status: Option<ProductStatus>,
    page: u64,
    page_size: u64,
) -> Result<(Vec<Product>, u64), DbErr> {
    let status: Value = status.map(|s| s.as_str().to_owned()).into();
    let filter = "($1::text IS NULL OR status = $1::text)";
    let total = Count::find_by_statement(stmt(
        &format!("SELECT count(*) AS total FROM products WHERE {filter}"),
        vec![status.clone()],
    ))
    .one(db)
    .await?
    .map_or(0, |c| c.total.max(0) as u64);
    let offset = (page - 1).saturating_mul(page_size);
    let rows = ProductRow::find_by_statement(stmt(
        &format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE {filter}
             ORDER BY p.created_at DESC, p.id LIMIT {page_size} OFFSET {offset}"
        ),
        vec![status],
    ))
    .all(db)
    .await?;
    Ok((with_images(db, rows).await?, total))
}
