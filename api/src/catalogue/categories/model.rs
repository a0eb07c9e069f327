//! Categories as clients see them, the validated input of a write, and the tree
//! built from the flat rows.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use sea_orm::FromQueryResult;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalogue::model::FieldError;

/// The most categories the shop holds: the whole tree is one cached value and one
/// response.
pub const MAX_CATEGORIES: i64 = 1000;
/// The deepest a tree goes (a root is level 1): bounds every recursive query and the
/// nesting of the public tree's JSON.
pub const MAX_DEPTH: i64 = 8;
/// Longest slug (and so code).
pub const MAX_SLUG: usize = 80;
/// Longest name.
pub const MAX_NAME: usize = 100;
/// Highest position.
pub const MAX_POSITION: i64 = 1_000_000;

/// A category, as an admin write answers it and the audit log records it.
#[derive(Debug, Clone, Object, Serialize, Deserialize, FromQueryResult)]
pub struct CategoryView {
    /// Id.
    pub id: Uuid,
    /// Stable code products carry in `category` (e.g. `FRUITS_VEGETABLES`); derived
    /// from the first slug, never changed.
    pub code: String,
    /// URL name, e.g. `fruits-vegetables`.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// The parent; `null` for a root.
    #[oai(nullable)]
    pub parent_id: Option<Uuid>,
    /// Order among siblings (then by name).
    pub position: i32,
    /// One of the original shop's categories (its frontend offers exactly these):
    /// renamed or moved, never deleted (409 `CATEGORY_PROTECTED`).
    pub protected: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// One category of the flat list the tree is built from (and cached as), with its
/// own published products.
#[derive(Debug, Clone, Serialize, Deserialize, FromQueryResult)]
pub struct CategoryRow {
    /// Id.
    pub id: Uuid,
    /// Code.
    pub code: String,
    /// Slug.
    pub slug: String,
    /// Name.
    pub name: String,
    /// Parent.
    pub parent_id: Option<Uuid>,
    /// Position.
    pub position: i32,
    /// Published products whose category is this one (not its descendants).
    pub own_products: i64,
}

/// A category of the public tree, with its children.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct CategoryNode {
    /// Id.
    pub id: Uuid,
    /// Stable code, the value of a product's `category` and of the listing's
    /// `category` filter.
    pub code: String,
    /// URL name (also accepted by the listing's `category` filter).
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Order among siblings (then by name).
    pub position: i32,
    /// Published products in this category and all its descendants: what
    /// `GET /api/products?category=<code>` counts.
    pub product_count: i64,
    /// Sub-categories, by position then name.
    pub children: Vec<CategoryNode>,
}

/// The tree of `rows` (any order): roots and children by position then name, each
/// node counting the published products of its whole subtree.
pub fn build_tree(rows: &[CategoryRow]) -> Vec<CategoryNode> {
    let mut sorted: Vec<&CategoryRow> = rows.iter().collect();
    sorted.sort_by(|a, b| (a.position, &a.name, a.id).cmp(&(b.position, &b.name, b.id)));
    let mut children: HashMap<Option<Uuid>, Vec<&CategoryRow>> = HashMap::new();
    for row in sorted {
        children.entry(row.parent_id).or_default().push(row);
    }
    fn node(
        row: &CategoryRow,
        children: &HashMap<Option<Uuid>, Vec<&CategoryRow>>,
        depth: i64,
    ) -> CategoryNode {
        // The depth bound holds in the table; it is checked again here so a bad row
        // can never make this recurse without end.
        let kids: Vec<CategoryNode> = if depth < MAX_DEPTH {
            children
                .get(&Some(row.id))
                .map(|kids| kids.iter().map(|k| node(k, children, depth + 1)).collect())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        CategoryNode {
            id: row.id,
            code: row.code.clone(),
            slug: row.slug.clone(),
            name: row.name.clone(),
            position: row.position,
            product_count: row.own_products + kids.iter().map(|k| k.product_count).sum::<i64>(),
            children: kids,
        }
    }
    children
        .get(&None)
        .map(|roots| roots.iter().map(|r| node(r, &children, 1)).collect())
        .unwrap_or_default()
}

/// The code of a new category with slug `slug`: `frozen-food` → `FROZEN_FOOD`.
pub fn code_from_slug(slug: &str) -> String {
    slug.replace('-', "_").to_ascii_uppercase()
}

/// Validates a slug: `^[a-z0-9]+(-[a-z0-9]+)*$`, at most [`MAX_SLUG`] characters.
pub fn check_slug(raw: &str) -> Result<String, FieldError> {
    let slug = raw.trim();
    let shaped = !slug.is_empty()
        && slug.len() <= MAX_SLUG
        && slug.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if !shaped {
        return Err((
            "slug",
            format!(
                "must be 1 to {MAX_SLUG} lowercase letters and digits in words joined by single hyphens, e.g. `frozen-food`"
            ),
        ));
    }
    Ok(slug.to_owned())
}

/// Validates a name: 1 to [`MAX_NAME`] characters, no control characters.
pub fn check_name(raw: &str) -> Result<String, FieldError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(("name", format!("must be 1 to {MAX_NAME} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(("name", "must not contain control characters".into()));
    }
    Ok(name.to_owned())
}

/// Validates a position: 0 to [`MAX_POSITION`].
pub fn check_position(n: i64) -> Result<i32, FieldError> {
    if !(0..=MAX_POSITION).contains(&n) {
        return Err(("position", format!("must be between 0 and {MAX_POSITION}")));
    }
    Ok(n as i32)
}

/// A validated new category.
#[derive(Debug, Clone)]
pub struct NewCategory {
    /// Code, from the slug.
    pub code: String,
    /// Slug.
    pub slug: String,
    /// Name.
    pub name: String,
    /// Parent (`None`: a root).
    pub parent_id: Option<Uuid>,
    /// Position.
    pub position: i32,
}

impl NewCategory {
    /// Validates raw fields.
    pub fn parse(
        slug: &str,
        name: &str,
        parent_id: Option<Uuid>,
        position: Option<i64>,
    ) -> Result<Self, FieldError> {
        let slug = check_slug(slug)?;
        Ok(Self {
            code: code_from_slug(&slug),
            name: check_name(name)?,
            position: check_position(position.unwrap_or(0))?,
            parent_id,
            slug,
        })
    }
}

/// The validated changes of a `PATCH`; the code never changes.
#[derive(Debug, Clone, Default)]
pub struct CategoryPatch {
    /// New slug.
    pub slug: Option<String>,
    /// New name.
    pub name: Option<String>,
    /// New parent: `Some(None)` makes it a root.
    pub parent_id: Option<Option<Uuid>>,
    /// New position.
    pub position: Option<i32>,
}

/// The categories a bulk import may name, by code or slug (any case), each to its
/// code: read once per import, so rows are checked without a query each.
#[derive(Debug, Clone, Default)]
pub struct KnownCategories(HashMap<String, String>);

impl KnownCategories {
    /// From `(code, slug)` pairs.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut map = HashMap::new();
        for (code, slug) in pairs {
            map.insert(slug.to_ascii_lowercase(), code.clone());
            map.insert(code.to_ascii_lowercase(), code);
        }
        Self(map)
    }

    /// The code `raw` names (a code or a slug, any case, spaces around ignored).
    pub fn code_of(&self, raw: &str) -> Option<&str> {
        self.0
            .get(&raw.trim().to_ascii_lowercase())
            .map(String::as_str)
    }
}
