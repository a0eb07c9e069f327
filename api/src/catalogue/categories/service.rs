//! Category writes, each in one transaction that takes the tree's lock, decides,
//! writes, appends its audit row and commits; then the catalogue cache is
//! invalidated before the caller answers. And the reads: the cached tree, and the
//! resolution of what a client calls a category to its code.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait};
use uuid::Uuid;

use super::{
    error::CategoryError,
    model::{
        CategoryPatch, CategoryRow, CategoryView, KnownCategories, MAX_CATEGORIES, MAX_DEPTH,
        MAX_SLUG, NewCategory, build_tree,
    },
    repo,
};
use crate::{
    audit::{self, AuditActor, Entry},
    catalogue::cache::{CacheOutcome, CatalogueCache},
};

/// The cache key of the flat category list (a closed key: there is one).
pub const TREE_KEY: &str = "categories:tree";

/// Who writes, for the audit log.
#[derive(Debug, Clone)]
pub struct Writer {
    /// The admin.
    pub admin_id: Uuid,
    /// The request (`X-Request-Id`).
    pub request_id: Option<String>,
}

impl Writer {
    fn entry(&self, action: &'static str, id: Uuid) -> Entry {
        Entry::new(AuditActor::Admin(self.admin_id), action, "category", id)
            .request(self.request_id.clone())
    }
}

/// The SQLSTATE and constraint of a database error, if it is a violated constraint.
fn violated(err: &DbErr) -> Option<(String, String)> {
    use sea_orm::{RuntimeErr, SqlxError};
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err
    else {
        return None;
    };
    let SqlxError::Database(e) = e.as_ref() else {
        return None;
    };
    Some((
        e.code().map(|c| c.into_owned()).unwrap_or_default(),
        e.constraint().unwrap_or_default().to_owned(),
    ))
}

/// A write's database error as the refusal it stands for: a duplicate slug or code,
/// a parent gone. Anything else stays a database error.
fn refusal(err: DbErr, slug: Option<&str>, code: &str) -> CategoryError {
    match violated(&err) {
        Some((state, constraint)) if state == "23505" && constraint == "categories_slug_unique" => {
            CategoryError::SlugTaken(slug.unwrap_or_default().to_owned())
        }
        Some((state, constraint)) if state == "23505" && constraint == "categories_code_unique" => {
            CategoryError::CodeTaken(code.to_owned())
        }
        Some((state, constraint))
            if state == "23503" && constraint == "categories_parent_id_fkey" =>
        {
            CategoryError::UnknownParent
        }
        _ => CategoryError::Db(err),
    }
}

/// Checks, under the tree's lock, that `parent` exists and that a subtree of
/// `height` levels fits under it.
async fn check_parent(
    db: &impl ConnectionTrait,
    parent: Uuid,
    height: i64,
) -> Result<(), CategoryError> {
    let level = repo::level(db, parent).await?;
    if level == 0 {
        return Err(CategoryError::UnknownParent);
    }
    if level + height > MAX_DEPTH {
        return Err(CategoryError::TooDeep);
    }
    Ok(())
}

/// Creates a category (audited); the row.
pub async fn create(
    db: &DatabaseConnection,
    cache: &CatalogueCache,
    by: &Writer,
    new: &NewCategory,
) -> Result<CategoryView, CategoryError> {
    let txn = db.begin().await?;
    repo::lock_tree(&txn).await?;
    if repo::count(&txn).await? >= MAX_CATEGORIES {
        return Err(CategoryError::TooMany);
    }
    // Under the lock no other write can take the slug meanwhile; asked first so a
    // taken slug is named as such (its code, made from it, is taken too).
    if repo::slug_taken(&txn, &new.slug, None).await? {
        return Err(CategoryError::SlugTaken(new.slug.clone()));
    }
    if let Some(parent) = new.parent_id {
        check_parent(&txn, parent, 1).await?;
    }
    let view = repo::insert(&txn, new)
        .await
        .map_err(|e| refusal(e, Some(&new.slug), &new.code))?;
    audit::record(&txn, by.entry("category.create", view.id).after(&view)).await?;
    txn.commit().await?;
    crate::catalogue::service::written(cache).await;
    tracing::info!(category_id = %view.id, code = %view.code, "category created");
    Ok(view)
}

/// Changes a category (audited); the row. A move (a new `parent_id`) is refused
/// with [`CategoryError::Cycle`] under itself or its own descendant, decided under
/// the tree's lock so two opposite concurrent moves cannot both pass.
pub async fn update(
    db: &DatabaseConnection,
    cache: &CatalogueCache,
    by: &Writer,
    id: Uuid,
    patch: &CategoryPatch,
) -> Result<CategoryView, CategoryError> {
    let txn = db.begin().await?;
    repo::lock_tree(&txn).await?;
    let before = repo::by_id(&txn, id)
        .await?
        .ok_or(CategoryError::NotFound)?;
    if let Some(slug) = &patch.slug
        && repo::slug_taken(&txn, slug, Some(id)).await?
    {
        return Err(CategoryError::SlugTaken(slug.clone()));
    }
    if let Some(Some(parent)) = patch.parent_id {
        if repo::in_subtree(&txn, id, parent).await? {
            return Err(CategoryError::Cycle);
        }
        let height = repo::height(&txn, id).await?;
        check_parent(&txn, parent, height).await?;
    }
    let after = repo::update(&txn, id, patch)
        .await
        .map_err(|e| refusal(e, patch.slug.as_deref(), &before.code))?
        .ok_or(CategoryError::NotFound)?;
    audit::record(
        &txn,
        by.entry("category.update", id)
            .before(&before)
            .after(&after),
    )
    .await?;
    txn.commit().await?;
    crate::catalogue::service::written(cache).await;
    tracing::info!(category_id = %id, "category updated");
    Ok(after)
}

/// Deletes a category that has no products (of any status) and no children
/// (audited).
pub async fn delete(
    db: &DatabaseConnection,
    cache: &CatalogueCache,
    by: &Writer,
    id: Uuid,
) -> Result<(), CategoryError> {
    let txn = db.begin().await?;
    repo::lock_tree(&txn).await?;
    // Locked: products being written into it commit first (and are counted), new
    // ones wait for this transaction, then find no category.
    let before = repo::lock(&txn, id).await?.ok_or(CategoryError::NotFound)?;
    let products = repo::count_products(&txn, &before.code).await?;
    if products > 0 {
        return Err(CategoryError::NotEmpty(products));
    }
    let children = repo::count_children(&txn, id).await?;
    if children > 0 {
        return Err(CategoryError::HasChildren(children));
    }
    if before.protected {
        return Err(CategoryError::Protected(before.code));
    }
    match repo::delete(&txn, id).await {
        Ok(_) => {}
        Err(e) if violated(&e).is_some_and(|(state, _)| state == "23503") => {
            // The lock above makes this unreachable; should it ever happen, the
            // foreign key still refused, and the client hears why.
            drop(txn);
            return Err(CategoryError::NotEmpty(
                repo::count_products(db, &before.code).await?.max(1),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    audit::record(&txn, by.entry("category.delete", id).before(&before)).await?;
    txn.commit().await?;
    crate::catalogue::service::written(cache).await;
    tracing::info!(category_id = %id, code = %before.code, "category deleted");
    Ok(())
}

/// Every category with its own published products, from the catalogue cache.
pub async fn tree_rows(
    db: &DatabaseConnection,
    cache: &CatalogueCache,
) -> Result<(Vec<CategoryRow>, CacheOutcome), CategoryError> {
    let db = db.clone();
    Ok(cache
        .get_or_load(TREE_KEY, || async move { repo::rows(&db).await })
        .await?)
}

/// The public tree, from the catalogue cache.
pub async fn tree(
    db: &DatabaseConnection,
    cache: &CatalogueCache,
) -> Result<(Vec<super::CategoryNode>, CacheOutcome), CategoryError> {
    let (rows, outcome) = tree_rows(db, cache).await?;
    Ok((build_tree(&rows), outcome))
}

/// Whether `raw` could be a category's code or slug: 1 to [`MAX_SLUG`] ASCII letters, digits,
/// `_` and `-`. Anything else names no category and is never sent to PostgreSQL
/// (which refuses a NUL in text).
pub fn is_category_shaped(raw: &str) -> bool {
    !raw.is_empty()
        && raw.len() <= MAX_SLUG
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The code of the category `raw` names (its code or slug, any case), read from the
/// table: [`CategoryError::UnknownCategory`] when there is none.
pub async fn resolve(db: &impl ConnectionTrait, raw: &str) -> Result<String, CategoryError> {
    let unknown = || CategoryError::UnknownCategory(raw.to_owned());
    if !is_category_shaped(raw.trim()) {
        return Err(unknown());
    }
    repo::code_of(db, raw).await?.ok_or_else(unknown)
}

/// Every category a bulk import may name.
pub async fn known(db: &impl ConnectionTrait) -> Result<KnownCategories, CategoryError> {
    Ok(KnownCategories::new(repo::codes_and_slugs(db).await?))
}
