//! `categories` rows: reads, writes and the tree's recursive queries. Every
//! recursive query is bounded (by [`MAX_DEPTH`]-scale limits and `UNION`, which
//! stops on a repeated row), so no row can make one run without end.

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Value};
use uuid::Uuid;

use super::model::{CategoryPatch, CategoryRow, CategoryView, MAX_DEPTH, NewCategory};
use crate::sql::stmt;

/// The first key of the category tree's advisory lock (`catg` in ASCII); two-key
/// advisory locks never collide with the relay's one-key lock, and the jobs use
/// another first key.
const TREE_LOCK_CLASS: i32 = 0x6361_7467;

/// Columns of [`CategoryView`].
const COLUMNS: &str =
    "id, code, slug, name, parent_id, position, protected, created_at, updated_at";

#[derive(FromQueryResult)]
struct Number {
    n: i64,
}

#[derive(FromQueryResult)]
struct Found {
    found: bool,
}

async fn number(db: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Result<i64, DbErr> {
    Ok(Number::find_by_statement(stmt(sql, values))
        .one(db)
        .await?
        .map_or(0, |r| r.n))
}

/// Takes the tree's lock until the transaction ends: every category write holds it,
/// so the decisions about the tree (cycles, depth, the number of categories,
/// children) are made one at a time over all instances. Call it on a transaction
/// first, before reading what it decides on: under READ COMMITTED, each statement
/// after it sees every write committed before it.
pub async fn lock_tree(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    db.execute_raw(stmt(
        "SELECT pg_advisory_xact_lock($1, 0)",
        vec![TREE_LOCK_CLASS.into()],
    ))
    .await?;
    Ok(())
}

/// Every category with its own published products (the tree's source).
pub async fn rows(db: &impl ConnectionTrait) -> Result<Vec<CategoryRow>, DbErr> {
    CategoryRow::find_by_statement(stmt(
        "SELECT c.id, c.code, c.slug, c.name, c.parent_id, c.position,
                COALESCE(p.n, 0)::bigint AS own_products
         FROM categories c
         LEFT JOIN (SELECT category, count(*) AS n FROM products
                    WHERE status = 'published' GROUP BY category) p ON p.category = c.code
         ORDER BY c.position, c.name, c.id",
        vec![],
    ))
    .all(db)
    .await
}

/// Every `(code, slug)`.
pub async fn codes_and_slugs(db: &impl ConnectionTrait) -> Result<Vec<(String, String)>, DbErr> {
    #[derive(FromQueryResult)]
    struct Pair {
        code: String,
        slug: String,
    }
    Ok(
        Pair::find_by_statement(stmt("SELECT code, slug FROM categories", vec![]))
            .all(db)
            .await?
            .into_iter()
            .map(|p| (p.code, p.slug))
            .collect(),
    )
}

/// The code of the category whose code or slug is `raw` (any case).
pub async fn code_of(db: &impl ConnectionTrait, raw: &str) -> Result<Option<String>, DbErr> {
    #[derive(FromQueryResult)]
    struct Code {
        code: String,
    }
    Ok(Code::find_by_statement(stmt(
        "SELECT code FROM categories WHERE code = upper($1) OR slug = lower($1)
         ORDER BY (code = upper($1)) DESC LIMIT 1",
        vec![raw.trim().to_owned().into()],
    ))
    .one(db)
    .await?
    .map(|c| c.code))
}

/// Whether a category other than `except` has `slug`, or a code that `slug` would
/// name: a product's category is looked up by code (any case) or slug, so slug
/// `beverages` on another category than `BEVERAGES` would make one name mean two.
pub async fn slug_taken(
    db: &impl ConnectionTrait,
    slug: &str,
    except: Option<Uuid>,
) -> Result<bool, DbErr> {
    Ok(Found::find_by_statement(stmt(
        "SELECT EXISTS (SELECT 1 FROM categories WHERE (slug = $1 OR code = upper($1))
                        AND id IS DISTINCT FROM $2) AS found",
        vec![slug.to_owned().into(), except.into()],
    ))
    .one(db)
    .await?
    .is_some_and(|f| f.found))
}

/// One category.
pub async fn by_id(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<CategoryView>, DbErr> {
    CategoryView::find_by_statement(stmt(
        &format!("SELECT {COLUMNS} FROM categories WHERE id = $1"),
        vec![id.into()],
    ))
    .one(db)
    .await
}

/// One category, its row locked until the transaction ends. The lock waits for the
/// transactions writing products into it (their foreign key check holds a `KEY
/// SHARE` lock on it) and keeps new ones waiting.
pub async fn lock(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<CategoryView>, DbErr> {
    CategoryView::find_by_statement(stmt(
        &format!("SELECT {COLUMNS} FROM categories WHERE id = $1 FOR UPDATE"),
        vec![id.into()],
    ))
    .one(db)
    .await
}

/// How many categories exist.
pub async fn count(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    number(db, "SELECT count(*) AS n FROM categories", vec![]).await
}

/// Products of any status in category `code` (not its descendants).
pub async fn count_products(db: &impl ConnectionTrait, code: &str) -> Result<i64, DbErr> {
    number(
        db,
        "SELECT count(*) AS n FROM products WHERE category = $1",
        vec![code.to_owned().into()],
    )
    .await
}

/// Direct children of `id`.
pub async fn count_children(db: &impl ConnectionTrait, id: Uuid) -> Result<i64, DbErr> {
    number(
        db,
        "SELECT count(*) AS n FROM categories WHERE parent_id = $1",
        vec![id.into()],
    )
    .await
}

/// The level of `id` (a root is 1); 0 if there is no such category.
pub async fn level(db: &impl ConnectionTrait, id: Uuid) -> Result<i64, DbErr> {
    number(
        db,
        "WITH RECURSIVE up AS (
             SELECT id, parent_id, 1 AS d FROM categories WHERE id = $1
             UNION
             SELECT c.id, c.parent_id, up.d + 1 FROM categories c
             JOIN up ON c.id = up.parent_id WHERE up.d <= $2
         ) SELECT COALESCE(max(d), 0)::bigint AS n FROM up",
        vec![id.into(), MAX_DEPTH.into()],
    )
    .await
}

/// The levels of the subtree under `id`, itself included (a leaf is 1).
pub async fn height(db: &impl ConnectionTrait, id: Uuid) -> Result<i64, DbErr> {
    number(
        db,
        "WITH RECURSIVE down AS (
             SELECT id, 1 AS d FROM categories WHERE id = $1
             UNION
             SELECT c.id, down.d + 1 FROM categories c
             JOIN down ON c.parent_id = down.id WHERE down.d <= $2
         ) SELECT COALESCE(max(d), 0)::bigint AS n FROM down",
        vec![id.into(), MAX_DEPTH.into()],
    )
    .await
}

/// Whether `candidate` is `root` or one of its descendants.
pub async fn in_subtree(
    db: &impl ConnectionTrait,
    root: Uuid,
    candidate: Uuid,
) -> Result<bool, DbErr> {
    Ok(Found::find_by_statement(stmt(
        "WITH RECURSIVE down AS (
             SELECT id FROM categories WHERE id = $1
             UNION
             SELECT c.id FROM categories c JOIN down ON c.parent_id = down.id
         ) SELECT EXISTS (SELECT 1 FROM down WHERE id = $2) AS found",
        vec![root.into(), candidate.into()],
    ))
    .one(db)
    .await?
    .is_some_and(|f| f.found))
}

/// Inserts a category; the row.
pub async fn insert(db: &impl ConnectionTrait, c: &NewCategory) -> Result<CategoryView, DbErr> {
    CategoryView::find_by_statement(stmt(
        &format!(
            "INSERT INTO categories (code, slug, name, parent_id, position)
             VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
        ),
        vec![
            c.code.clone().into(),
            c.slug.clone().into(),
            c.name.clone().into(),
            c.parent_id.into(),
            c.position.into(),
        ],
    ))
    .one(db)
    .await?
    .ok_or_else(|| DbErr::RecordNotInserted)
}

/// Applies `patch` to `id`; the row, or `None` if there is no such category.
pub async fn update(
    db: &impl ConnectionTrait,
    id: Uuid,
    patch: &CategoryPatch,
) -> Result<Option<CategoryView>, DbErr> {
    let mut sets = vec!["updated_at = now()".to_owned()];
    let mut values: Vec<Value> = vec![id.into()];
    let mut set = |col: &str, v: Value| {
        values.push(v);
        sets.push(format!("{col} = ${}", values.len()));
    };
    if let Some(v) = &patch.slug {
        set("slug", v.clone().into());
    }
    if let Some(v) = &patch.name {
        set("name", v.clone().into());
    }
    if let Some(v) = patch.parent_id {
        set("parent_id", v.into());
    }
    if let Some(v) = patch.position {
        set("position", v.into());
    }
    CategoryView::find_by_statement(stmt(
        &format!(
            "UPDATE categories SET {} WHERE id = $1 RETURNING {COLUMNS}",
            sets.join(", ")
        ),
        values,
    ))
    .one(db)
    .await
}

/// Deletes `id`; whether a row went.
pub async fn delete(db: &impl ConnectionTrait, id: Uuid) -> Result<bool, DbErr> {
    Ok(db
        .execute_raw(stmt(
            "DELETE FROM categories WHERE id = $1",
            vec![id.into()],
        ))
        .await?
        .rows_affected()
        == 1)
}
