//! Single products: read, insert (one or many), versioned update, status transitions.

use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, Value};
use uuid::Uuid;

use super::{COLUMNS, FROM, FROM_CHANGED, ProductRow, with_images};
use crate::{
    catalogue::model::{NewProduct, Product, ProductStatus, Transition},
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

/// One product, any status, its row locked until the transaction ends: the state a
/// versioned update starts from, read under the lock so the audit's `before` is the
/// row the update changes.
pub async fn locked(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<Product>, DbErr> {
    let row = ProductRow::find_by_statement(stmt(
        &format!("SELECT {COLUMNS} FROM {FROM} WHERE p.id = $1 FOR UPDATE OF p"),
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
    // Version and times take their column defaults.
    products::Entity::insert(products::ActiveModel {
        id: Set(id),
        name: Set(p.name.clone()),
        description: Set(p.description.clone()),
        price_cents: Set(p.price_cents),
        currency: Set(p.currency.clone()),
        category: Set(p.category.clone()),
        stock: Set(p.stock),
        low_stock_threshold: Set(p.low_stock_threshold),
        status: Set(p.status.as_str().to_owned()),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    Ok(id)
}

/// Inserts many products with multi-row statements (bulk import); their ids, in
/// the order of `products`.
pub async fn insert_many(
    db: &impl ConnectionTrait,
    products: &[NewProduct],
) -> Result<Vec<Uuid>, DbErr> {
    let mut ids = Vec::with_capacity(products.len());
    // 9 parameters a row; PostgreSQL allows 65,535 per statement.
    for chunk in products.chunks(1000) {
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 9);
        let mut rows = Vec::with_capacity(chunk.len());
        let first = ids.len();
        for p in chunk {
            let base = values.len();
            let params: Vec<String> = (1..=9).map(|i| format!("${}", base + i)).collect();
            rows.push(format!("({})", params.join(", ")));
            let id = Uuid::now_v7();
            ids.push(id);
            values.extend([
                id.into(),
                p.name.clone().into(),
                p.description.clone().into(),
                p.price_cents.into(),
                p.currency.clone().into(),
                p.category.clone().into(),
                p.stock.into(),
                p.low_stock_threshold.into(),
                p.status.as_str().into(),
            ]);
        }
        let result = db
            .execute_raw(stmt(
                &format!(
                    "INSERT INTO products (id, name, description, price_cents, currency, category, stock, low_stock_threshold, status)
                     VALUES {}",
                    rows.join(", ")
                ),
                values,
            ))
            .await?;
        if result.rows_affected() != (ids.len() - first) as u64 {
            return Err(DbErr::Custom(format!(
                "bulk insert wrote {} of {} rows",
                result.rows_affected(),
                ids.len() - first
            )));
        }
    }
    Ok(ids)
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
    /// New category code (one the table holds).
    pub category: Option<String>,
    /// New threshold.
    pub low_stock_threshold: Option<i32>,
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
    if let Some(v) = &patch.category {
        set("category", v.clone().into());
    }
    if let Some(v) = patch.low_stock_threshold {
        set("low_stock_threshold", v.into());
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

/// Outcome of a status transition.
pub enum Moved {
    /// Done: the status it left, and the product now.
    Done(ProductStatus, Box<Product>),
    /// No such product.
    Missing,
    /// The product is not in a state the transition starts from; its status now.
    Conflict(ProductStatus),
}

/// Moves product `id` by `t`, in one statement: the row is locked, and changed only
/// if its status (read under the lock, so the newest) is one `t` starts from. Of
/// concurrent moves of one product, each sees the status the one before it left.
pub async fn transition(
    db: &impl ConnectionTrait,
    id: Uuid,
    t: Transition,
) -> Result<Moved, DbErr> {
    let from = crate::orders::place::pg_array(t.from().iter().map(|s| s.as_str()));
    let moved = db
        .query_one_raw(stmt(
            &format!(
                "WITH old AS (SELECT id, status FROM products WHERE id = $1 FOR UPDATE),
                 changed AS (
                     UPDATE products p SET status = $2, updated_at = now()
                     FROM old WHERE p.id = old.id AND old.status = ANY ($3::text[])
                     RETURNING p.*, old.status AS before_status)
                 SELECT {COLUMNS}, p.before_status FROM {FROM_CHANGED}"
            ),
            vec![id.into(), t.to().as_str().into(), from.into()],
        ))
        .await?;
    let Some(moved) = moved else {
        #[derive(FromQueryResult)]
        struct Now {
            status: String,
        }
        return Ok(
            match Now::find_by_statement(stmt(
                "SELECT status FROM products WHERE id = $1",
                vec![id.into()],
            ))
            .one(db)
            .await?
            {
                Some(now) => Moved::Conflict(stored_status(&now.status)?),
                None => Moved::Missing,
            },
        );
    };
    let before = stored_status(&moved.try_get::<String>("", "before_status")?)?;
    let row = ProductRow::from_query_result(&moved, "")?;
    let product = with_images(db, vec![row]).await?.remove(0);
    Ok(Moved::Done(before, Box::new(product)))
}

/// A stored status; anything else (which the schema's `CHECK` forbids) is an error.
fn stored_status(raw: &str) -> Result<ProductStatus, DbErr> {
    ProductStatus::parse(raw).ok_or_else(|| DbErr::Type(format!("unknown product status `{raw}`")))
}
