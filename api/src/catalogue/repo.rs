//! Catalogue queries. Listing filters are bound parameters; only the `ORDER BY`
//! clause is chosen from a fixed set.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, Statement, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::model::{Category, ImageRef, NewProduct, ProductStatus, ProductView};

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
struct ImageRow {
    id: Uuid,
    product_id: Uuid,
    content_type: String,
}

#[derive(Debug, FromQueryResult)]
struct Count {
    total: i64,
}

fn stmt(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

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
    /// Category filter.
    pub category: Option<Category>,
    /// Minimum price.
    pub min_price_cents: Option<i64>,
    /// Maximum price.
    pub max_price_cents: Option<i64>,
    /// Only products in stock (true) or out of stock (false).
    pub in_stock: Option<bool>,
    /// Text search over name and description.
    pub q: Option<String>,
    /// Order.
    pub sort: Sort,
}

fn escape_like(q: &str) -> String {
    q.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// One page of active products and the total matching.
pub async fn list(
    db: &impl ConnectionTrait,
    q: &ListQuery,
) -> Result<(Vec<ProductView>, u64), DbErr> {
    let mut conditions = vec!["status = 'active'".to_owned()];
    let mut values: Vec<Value> = Vec::new();
    let bind = |v: Value, values: &mut Vec<Value>| {
        values.push(v);
        format!("${}", values.len())
    };
    if let Some(c) = q.category {
        let p = bind(c.as_str().into(), &mut values);
        conditions.push(format!("category = {p}"));
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
        let p = bind(format!("%{}%", escape_like(text)).into(), &mut values);
        conditions.push(format!("(name ILIKE {p} OR description ILIKE {p})"));
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
            "SELECT {COLUMNS} FROM products WHERE {filter} ORDER BY {} LIMIT {} OFFSET {offset}",
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
pub async fn all_active(db: &impl ConnectionTrait) -> Result<Vec<ProductView>, DbErr> {
    let rows = ProductRow::find_by_statement(stmt(
        &format!(
            "SELECT {COLUMNS} FROM products WHERE status = 'active' ORDER BY created_at DESC, id
             LIMIT {MAX_UNPAGED}"
        ),
        vec![],
    ))
    .all(db)
    .await?;
    with_images(db, rows).await
}

/// Active products that have at least one image (the seed's `products_with_images`).
pub async fn with_images_only(db: &impl ConnectionTrait) -> Result<Vec<ProductView>, DbErr> {
    let rows = ProductRow::find_by_statement(stmt(
        &format!(
            "SELECT {COLUMNS} FROM products p WHERE status = 'active'
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
        "SELECT count(*) AS total FROM products WHERE status = 'active'",
        vec![],
    ))
    .one(db)
    .await?
    .map_or(0, |c| c.total.max(0) as u64))
}

/// One product, archived or not.
pub async fn by_id(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<ProductView>, DbErr> {
    let row = ProductRow::find_by_statement(stmt(
        &format!("SELECT {COLUMNS} FROM products WHERE id = $1"),
        vec![id.into()],
    ))
    .one(db)
    .await?;
    match row {
        Some(row) => Ok(with_images(db, vec![row]).await?.pop()),
        None => Ok(None),
    }
}

/// Attaches image references to rows.
pub async fn with_images(
    db: &impl ConnectionTrait,
    rows: Vec<ProductRow>,
) -> Result<Vec<ProductView>, DbErr> {
    let mut images: HashMap<Uuid, Vec<ImageRef>> = HashMap::new();
    if !rows.is_empty() {
        let ids = rows
            .iter()
            .map(|r| format!("'{}'", r.id))
            .collect::<Vec<_>>()
            .join(",");
        let found = ImageRow::find_by_statement(stmt(
            &format!(
                "SELECT id, product_id, content_type FROM product_images
                 WHERE product_id IN ({ids}) ORDER BY position, created_at"
            ),
            vec![],
        ))
        .all(db)
        .await?;
        for image in found {
            images.entry(image.product_id).or_default().push(ImageRef {
                url: image_url(image.product_id, image.id),
                id: image.id,
                content_type: image.content_type,
            });
        }
    }
    Ok(rows
        .into_iter()
        .map(|r| ProductView {
            images: images.remove(&r.id).unwrap_or_default(),
            id: r.id,
            name: r.name,
            description: r.description,
            price_cents: r.price_cents,
            currency: r.currency,
            category: Category::parse(&r.category).unwrap_or(Category::Staples),
            stock: r.stock,
            low_stock_threshold: r.low_stock_threshold,
            status: if r.status == "archived" {
                ProductStatus::Archived
            } else {
                ProductStatus::Active
            },
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
        .collect())
}

/// The path that serves an image.
pub fn image_url(product: Uuid, image: Uuid) -> String {
    format!("/api/products/{product}/images/{image}")
}

/// Inserts a product; returns its id.
pub async fn insert(db: &impl ConnectionTrait, p: &NewProduct) -> Result<Uuid, DbErr> {
    let id = Uuid::now_v7();
    db.execute_raw(stmt(
        "INSERT INTO products (id, name, description, price_cents, currency, category, stock, low_stock_threshold)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        vec![
            id.into(),
            p.name.clone().into(),
            p.description.clone().into(),
            p.price_cents.into(),
            p.currency.clone().into(),
            p.category.as_str().into(),
            p.stock.into(),
            p.low_stock_threshold.into(),
        ],
    ))
    .await?;
    Ok(id)
}

/// Inserts many products with multi-row statements (bulk import).
pub async fn insert_many(db: &impl ConnectionTrait, products: &[NewProduct]) -> Result<u64, DbErr> {
    let mut inserted = 0;
    // 8 parameters a row; PostgreSQL allows 65,535 per statement.
    for chunk in products.chunks(1000) {
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 8);
        let mut rows = Vec::with_capacity(chunk.len());
        for p in chunk {
            let base = values.len();
            rows.push(format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                base + 1,
                base + 2,
                base + 3,
                base + 4,
                base + 5,
                base + 6,
                base + 7,
                base + 8
            ));
            values.extend([
                Uuid::now_v7().into(),
                p.name.clone().into(),
                p.description.clone().into(),
                p.price_cents.into(),
                p.currency.clone().into(),
                p.category.as_str().into(),
                p.stock.into(),
                p.low_stock_threshold.into(),
            ]);
        }
        let result = db
            .execute_raw(stmt(
                &format!(
                    "INSERT INTO products (id, name, description, price_cents, currency, category, stock, low_stock_threshold)
                     VALUES {}",
                    rows.join(", ")
                ),
                values,
            ))
            .await?;
        inserted += result.rows_affected();
    }
    Ok(inserted)
}

/// Stores an image of `product`.
pub async fn insert_image(
    db: &impl ConnectionTrait,
    product: Uuid,
    content_type: &str,
    bytes: Vec<u8>,
    position: i32,
) -> Result<Uuid, DbErr> {
    let id = Uuid::now_v7();
    let sha = hex::encode(Sha256::digest(&bytes));
    db.execute_raw(stmt(
        "INSERT INTO product_images (id, product_id, content_type, bytes, sha256, position)
         VALUES ($1, $2, $3, $4, $5, $6)",
        vec![
            id.into(),
            product.into(),
            content_type.into(),
            bytes.into(),
            sha.into(),
            position.into(),
        ],
    ))
    .await?;
    Ok(id)
}

/// An image's bytes.
#[derive(Debug, FromQueryResult)]
pub struct ImageBytes {
    /// Content type.
    pub content_type: String,
    /// Bytes.
    pub bytes: Vec<u8>,
    /// SHA-256, hex: the strong ETag.
    pub sha256: String,
}

/// The bytes of image `image` of `product`.
pub async fn image(
    db: &impl ConnectionTrait,
    product: Uuid,
    image: Uuid,
) -> Result<Option<ImageBytes>, DbErr> {
    ImageBytes::find_by_statement(stmt(
        "SELECT i.content_type, i.bytes, i.sha256 FROM product_images i
         JOIN products p ON p.id = i.product_id AND p.status = 'active'
         WHERE i.id = $1 AND i.product_id = $2",
        vec![image.into(), product.into()],
    ))
    .one(db)
    .await
}

/// The ETag of an image, without its bytes (for 304s).
pub async fn image_etag(
    db: &impl ConnectionTrait,
    product: Uuid,
    image: Uuid,
) -> Result<Option<String>, DbErr> {
    #[derive(FromQueryResult)]
    struct Sha {
        sha256: String,
    }
    Ok(Sha::find_by_statement(stmt(
        "SELECT i.sha256 FROM product_images i
         JOIN products p ON p.id = i.product_id AND p.status = 'active'
         WHERE i.id = $1 AND i.product_id = $2",
        vec![image.into(), product.into()],
    ))
    .one(db)
    .await?
    .map(|s| s.sha256))
}

/// The changes of a `PATCH`.
#[derive(Debug, Default)]
pub struct ProductPatch {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New price.
    pub price_cents: Option<i64>,
    /// New currency.
    pub currency: Option<String>,
    /// New category.
    pub category: Option<Category>,
    /// New threshold.
    pub low_stock_threshold: Option<i32>,
    /// New status.
    pub status: Option<ProductStatus>,
}

/// Outcome of a versioned write.
pub enum Versioned {
    /// Written; the new row.
    Written(Box<ProductView>),
    /// No such product.
    Missing,
    /// The version did not match; the current version.
    Stale(i32),
}

/// Applies `patch` if the product is still at `version`.
pub async fn update(
    db: &impl ConnectionTrait,
    id: Uuid,
    version: i32,
    patch: &ProductPatch,
) -> Result<Versioned, DbErr> {
    let mut sets = vec![
        "version = version + 1".to_owned(),
        "updated_at = now()".to_owned(),
    ];
    let mut values: Vec<Value> = vec![id.into(), version.into()];
    let mut set = |col: &str, v: Value| {
        values.push(v);
        sets.push(format!("{col} = ${}", values.len()));
    };
    if let Some(v) = &patch.name {
        set("name", v.clone().into());
    }
    if let Some(v) = &patch.description {
        set("description", v.clone().into());
    }
    if let Some(v) = patch.price_cents {
        set("price_cents", v.into());
    }
    if let Some(v) = &patch.currency {
        set("currency", v.clone().into());
    }
    if let Some(v) = patch.category {
        set("category", v.as_str().into());
    }
    if let Some(v) = patch.low_stock_threshold {
        set("low_stock_threshold", v.into());
    }
    if let Some(v) = patch.status {
        set(
            "status",
            if v == ProductStatus::Archived {
                "archived"
            } else {
                "active"
            }
            .into(),
        );
    }
    let row = ProductRow::find_by_statement(stmt(
        &format!(
            "UPDATE products SET {} WHERE id = $1 AND version = $2 RETURNING {COLUMNS}",
            sets.join(", ")
        ),
        values,
    ))
    .one(db)
    .await?;
    match row {
        Some(row) => Ok(Versioned::Written(Box::new(
            with_images(db, vec![row]).await?.remove(0),
        ))),
        None => current_version(db, id).await,
    }
}

async fn current_version(db: &impl ConnectionTrait, id: Uuid) -> Result<Versioned, DbErr> {
    #[derive(FromQueryResult)]
    struct V {
        version: i32,
    }
    Ok(
        match V::find_by_statement(stmt(
            "SELECT version FROM products WHERE id = $1",
            vec![id.into()],
        ))
        .one(db)
        .await?
        {
            Some(v) => Versioned::Stale(v.version),
            None => Versioned::Missing,
        },
    )
}

/// Archives a product (hidden from listings, kept for orders).
pub async fn archive(db: &impl ConnectionTrait, id: Uuid) -> Result<bool, DbErr> {
    let r = db
        .execute_raw(stmt(
            "UPDATE products SET status = 'archived', version = version + 1, updated_at = now()
             WHERE id = $1 AND status <> 'archived'",
            vec![id.into()],
        ))
        .await?;
    if r.rows_affected() == 1 {
        return Ok(true);
    }
    Ok(matches!(
        current_version(db, id).await?,
        Versioned::Stale(_)
    ))
}

/// Outcome of a stock adjustment.
pub enum StockChange {
    /// Applied.
    Applied(Box<ProductView>),
    /// No such product.
    Missing,
    /// It would go below zero; the current stock.
    Insufficient(i32),
    /// It would go above [`MAX_STOCK_LEVEL`](crate::catalogue::model::MAX_STOCK_LEVEL);
    /// the current stock.
    TooMuch(i32),
}

/// Adds `delta` to the stock (never below zero) and records the movement.
pub async fn adjust_stock(
    db: &impl ConnectionTrait,
    id: Uuid,
    delta: i32,
    reason: &str,
    by: Uuid,
) -> Result<StockChange, DbErr> {
    let row = ProductRow::find_by_statement(stmt(
        &format!(
            "UPDATE products SET stock = stock + $2, updated_at = now()
             WHERE id = $1 AND stock::int8 + $2 BETWEEN 0 AND $3 RETURNING {COLUMNS}"
        ),
        vec![
            id.into(),
            delta.into(),
            crate::catalogue::model::MAX_STOCK_LEVEL.into(),
        ],
    ))
    .one(db)
    .await?;
    let Some(row) = row else {
        #[derive(FromQueryResult)]
        struct S {
            stock: i32,
        }
        return Ok(
            match S::find_by_statement(stmt(
                "SELECT stock FROM products WHERE id = $1",
                vec![id.into()],
            ))
            .one(db)
            .await?
            {
                Some(s) if delta > 0 => StockChange::TooMuch(s.stock),
                Some(s) => StockChange::Insufficient(s.stock),
                None => StockChange::Missing,
            },
        );
    };
    db.execute_raw(stmt(
        "INSERT INTO inventory_movements (product_id, delta, reason, created_by) VALUES ($1, $2, $3, $4)",
        vec![id.into(), delta.into(), reason.into(), by.into()],
    ))
    .await?;
    Ok(StockChange::Applied(Box::new(
        with_images(db, vec![row]).await?.remove(0),
    )))
}
