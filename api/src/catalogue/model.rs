//! Catalogue types as clients see them, and the validated input of a new product.

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where a product is in its life: `draft` → `published` → `archived` (and back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize, Deserialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum ProductStatus {
    /// Being prepared: seen by admins only, never by customers (not listed, searched,
    /// shown, served as an image, or put in a cart).
    Draft,
    /// Listed and on sale.
    Published,
    /// Hidden from customers, kept for past orders.
    Archived,
}

impl ProductStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
            Self::Archived => "archived",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "draft" => Some(Self::Draft),
            "published" => Some(Self::Published),
            "archived" => Some(Self::Archived),
            _ => None,
        }
    }
}

/// The status a new product is created in: `draft` or `published` (the default, what
/// the legacy upload implies, so the original frontend's products go on sale). A
/// product is never created archived.
pub fn check_new_status(raw: Option<&str>) -> Result<ProductStatus, FieldError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(ProductStatus::Published),
        Some(s) => match ProductStatus::parse(&s.to_ascii_lowercase()) {
            Some(status @ (ProductStatus::Draft | ProductStatus::Published)) => Ok(status),
            _ => Err((
                "status",
                format!(
                    "`{}` is not a status a product is created in: `draft` or `published`",
                    s.chars().take(20).collect::<String>()
                ),
            )),
        },
    }
}

/// An explicit move of a product between statuses: each starts only from the states
/// it lists, decided by one conditional `UPDATE`, so of two concurrent moves of one
/// product one wins and the other is told the status it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// `draft` | `archived` → `published`.
    Publish,
    /// `published` → `draft`.
    Unpublish,
    /// `draft` | `published` → `archived`.
    Archive,
}

impl Transition {
    /// Every transition.
    pub const ALL: [Self; 3] = [Self::Publish, Self::Unpublish, Self::Archive];

    /// The verb, as in the route and the audit action (`product.<verb>`).
    pub fn verb(self) -> &'static str {
        match self {
            Self::Publish => "publish",
            Self::Unpublish => "unpublish",
            Self::Archive => "archive",
        }
    }

    /// The audit action.
    pub fn action(self) -> &'static str {
        match self {
            Self::Publish => "product.publish",
            Self::Unpublish => "product.unpublish",
            Self::Archive => "product.archive",
        }
    }

    /// The states it starts from.
    pub fn from(self) -> &'static [ProductStatus] {
        match self {
            Self::Publish => &[ProductStatus::Draft, ProductStatus::Archived],
            Self::Unpublish => &[ProductStatus::Published],
            Self::Archive => &[ProductStatus::Draft, ProductStatus::Published],
        }
    }

    /// The state it ends in.
    pub fn to(self) -> ProductStatus {
        match self {
            Self::Publish => ProductStatus::Published,
            Self::Unpublish => ProductStatus::Draft,
            Self::Archive => ProductStatus::Archived,
        }
    }
}

/// An image of a product.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct ImageRef {
    /// Image id.
    pub id: Uuid,
    /// Path that serves the bytes from any instance.
    pub url: String,
    /// `image/jpeg`, `image/png` or `image/webp`.
    pub content_type: String,
}

/// A product.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct ProductView {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Price in the currency's smallest unit (cents); money is never a float.
    pub price_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// The code of its category (`GET /api/categories`), e.g. `STAPLES`.
    pub category: String,
    /// Units in stock.
    pub stock: i32,
    /// At or below this stock, admins are warned.
    pub low_stock_threshold: i32,
    /// `draft`, `published` or `archived`.
    pub status: ProductStatus,
    /// Images, first is the main one.
    pub images: Vec<ImageRef>,
    /// Optimistic-concurrency version of the fields `PATCH` edits: send it back with
    /// `PATCH`. Stock moves (orders, adjustments) do not change it: they are atomic
    /// deltas, and a sale must not make an admin's edit of the price stale.
    pub version: i32,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// The average of the approved reviews' stars (1 to 5), rounded to one decimal
    /// (a JSON number such as `4.3`); `null` while no review is approved.
    #[oai(nullable)]
    #[serde(default)]
    pub rating_average: Option<f64>,
    /// How many approved reviews the average is of.
    #[serde(default)]
    pub rating_count: i32,
}

/// A product as stored, with its images (the first is the main one).
#[derive(Debug, Clone)]
pub struct Product {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Price in cents.
    pub price_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Category code.
    pub category: String,
    /// Units in stock.
    pub stock: i32,
    /// Low-stock threshold.
    pub low_stock_threshold: i32,
    /// Draft, published or archived.
    pub status: ProductStatus,
    /// Images, in order.
    pub images: Vec<Image>,
    /// Optimistic-concurrency version of the fields `PATCH` edits.
    pub version: i32,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Approved reviews (`product_ratings`).
    pub rating_count: i32,
    /// The sum of their stars.
    pub rating_sum: i32,
}

impl Product {
    /// The average stars of the approved reviews, to one decimal; `None` without any.
    pub fn rating_average(&self) -> Option<f64> {
        rating_average(self.rating_count.into(), self.rating_sum.into())
    }
}

/// The average of `count` ratings summing to `sum`, rounded half up to one decimal
/// (exact: computed in tenths on integers); `None` when `count` is 0.
pub fn rating_average(count: i64, sum: i64) -> Option<f64> {
    if count <= 0 {
        return None;
    }
    let tenths = (sum * 20 + count) / (count * 2);
    Some(tenths as f64 / 10.0)
}

/// An image of a product, as stored (without its bytes).
#[derive(Debug, Clone)]
pub struct Image {
    /// Image id.
    pub id: Uuid,
    /// Path that serves the bytes from any instance.
    pub url: String,
    /// Its content type.
    pub content_type: String,
}

impl From<Image> for ImageRef {
    fn from(i: Image) -> Self {
        Self {
            id: i.id,
            url: i.url,
            content_type: i.content_type,
        }
    }
}

impl From<Product> for ProductView {
    fn from(p: Product) -> Self {
        let rating_average = p.rating_average();
        Self {
            id: p.id,
            name: p.name,
            description: p.description,
            price_cents: p.price_cents,
            currency: p.currency,
            category: p.category,
            stock: p.stock,
            low_stock_threshold: p.low_stock_threshold,
            status: p.status,
            images: p.images.into_iter().map(ImageRef::from).collect(),
            rating_average,
            rating_count: p.rating_count,
            version: p.version,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// Longest name accepted.
pub const MAX_NAME: usize = 200;
/// Longest description accepted.
pub const MAX_DESCRIPTION: usize = 5000;
/// Highest price accepted (1,000,000.00).
pub const MAX_PRICE_CENTS: i64 = 100_000_000;
/// Highest stock accepted.
pub const MAX_STOCK: i64 = 1_000_000;
/// The most stock a product can reach by adjustments (the database's `CHECK` too):
/// far inside `INTEGER`, so no sum of adjustments overflows.
pub const MAX_STOCK_LEVEL: i64 = 1_000_000_000;

/// A validated new product.
#[derive(Debug, Clone)]
pub struct NewProduct {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Price in cents.
    pub price_cents: i64,
    /// Currency.
    pub currency: String,
    /// Category code, one in the `categories` table (`categories::resolve`).
    pub category: String,
    /// Initial stock.
    pub stock: i32,
    /// Low-stock threshold.
    pub low_stock_threshold: i32,
    /// The status it is created in: `draft` or `published` ([`check_new_status`]).
    pub status: ProductStatus,
}

/// A field problem: (field, problem).
pub type FieldError = (&'static str, String);

/// Validates a name.
pub fn check_name(raw: &str) -> Result<String, FieldError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(("name", "is required".into()));
    }
    if name.chars().count() > MAX_NAME {
        return Err(("name", format!("must be at most {MAX_NAME} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(("name", "must not contain control characters".into()));
    }
    Ok(name.to_owned())
}

/// Validates a description.
pub fn check_description(raw: &str) -> Result<String, FieldError> {
    let d = raw.trim();
    if d.contains('\0') {
        return Err(("description", "must not contain NUL characters".into()));
    }
    if d.chars().count() > MAX_DESCRIPTION {
        return Err((
            "description",
            format!("must be at most {MAX_DESCRIPTION} characters"),
        ));
    }
    Ok(d.to_owned())
}

/// Validates a price.
pub fn check_price(cents: i64) -> Result<i64, FieldError> {
    if !(0..=MAX_PRICE_CENTS).contains(&cents) {
        return Err((
            "price_cents",
            format!("must be between 0 and {MAX_PRICE_CENTS}"),
        ));
    }
    Ok(cents)
}

/// The active ISO 4217 alphabetic codes (`money-iso4217.txt`, one per line).
static ISO_4217: std::sync::LazyLock<std::collections::HashSet<&'static str>> =
    std::sync::LazyLock::new(|| {
        include_str!("../money-iso4217.txt")
            .lines()
            .map(str::trim)
            .filter(|l| l.len() == 3)
            .collect()
    });

/// Validates a currency code: one of the active ISO 4217 codes.
pub fn check_currency(raw: &str) -> Result<String, FieldError> {
    let c = raw.trim().to_ascii_uppercase();
    if c.len() != 3 || !ISO_4217.contains(c.as_str()) {
        return Err((
            "currency",
            format!(
                "`{}` is not an ISO 4217 currency code",
                raw.trim().chars().take(8).collect::<String>()
            ),
        ));
    }
    Ok(c)
}

/// Validates a stock level or threshold.
pub fn check_count(field: &'static str, n: i64) -> Result<i32, FieldError> {
    if !(0..=MAX_STOCK).contains(&n) {
        return Err((field, format!("must be between 0 and {MAX_STOCK}")));
    }
    Ok(n as i32)
}

impl NewProduct {
    /// Validates raw fields.
    pub fn parse(
        name: &str,
        description: Option<&str>,
        price_cents: i64,
        currency: Option<&str>,
        category: String,
        stock: i64,
        low_stock_threshold: Option<i64>,
    ) -> Result<Self, FieldError> {
        Ok(Self {
            name: check_name(name)?,
            description: check_description(description.unwrap_or_default())?,
            price_cents: check_price(price_cents)?,
            currency: check_currency(currency.unwrap_or("USD"))?,
            category,
            stock: check_count("stock", stock)?,
            low_stock_threshold: check_count(
                "low_stock_threshold",
                low_stock_threshold.unwrap_or(5),
            )?,
            status: ProductStatus::Published,
        })
    }

    /// The same product, created in `status` (checked by [`check_new_status`]).
    pub fn with_status(mut self, status: ProductStatus) -> Self {
        self.status = status;
        self
    }
}

#[cfg(test)]
mod tests;
