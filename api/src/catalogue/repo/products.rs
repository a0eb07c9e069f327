//! Single products: read, insert (one or many), versioned update, archive.

use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, Value};
use uuid::Uuid;

use super::{COLUMNS, FROM, FROM_CHANGED, ProductRow, with_images};
use crate::{
    catalogue::model::{Category, NewProduct, Product, ProductStatus},
    entities::products,
    sql::stmt,
};

/// One product, archived or not.
pub async fn by_id(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<Product>, DbErr> {
    let row = ProductRow::find_by_statement(stmt(
        &format!("SELECT {COLUMNS} FROM {FROM} WHERE p.id = $1"),
        vec![id.into()],
    ))
    .one(db)
    .await?;
    match row {
        Some(row) => Ok(with_images(db, vec![row]).await?.pop()),
        None => Ok(None),
    }
}

/// Inserts a product; returns its id.
pub async fn insert(db: &impl ConnectionTrait, p: &NewProduct) -> Result<Uuid, DbErr> {
    let id = Uuid::now_v7();
    // Status, version and times take their column defaults.
    products::Entity::insert(products::ActiveModel {
        id: Set(id),
        name: Set(p.name.clone()),
        description: Set(p.description.clone()),
        price_cents: Set(p.price_cents),
        currency: Set(p.currency.clone()),
        category: Set(p.category.as_str().to_owned()),
        stock: Set(p.stock),
        low_stock_threshold: Set(p.low_stock_threshold),
        ..Default::default()
    })
    .exec_without_returning(db)
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
    Written(Box<Product>),
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
        set("status", v.as_str().into());
    }
    let row = ProductRow::find_by_statement(stmt(
        &format!(
            "WITH changed AS (UPDATE products SET {} WHERE id = $1 AND version = $2 RETURNING *)
             SELECT {COLUMNS} FROM {FROM_CHANGED}",
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
