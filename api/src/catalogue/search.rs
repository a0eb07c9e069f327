//! Product search: full text over name, category name and description, typo
//! tolerance, filters, facets and sorting.
//!
//! Invariants:
//! - only published products are ever matched, counted or shown;
//! - the documents and the lexicon are kept current by the database (migration
//!   `m20261207_000014_search`), so every write path, including the legacy routes and
//!   bulk imports, is searchable at once;
//! - a query word that is no known word (nor shares a known word's stem) is replaced
//!   by its nearest lexicon term before matching, and the answer says so
//!   (`corrected_query`): "bananna" finds bananas, "mlik" finds milk;
//! - facets: the category facet counts the matches with every filter but the category
//!   one (so a shopper sees what picking another category would give, and its counts
//!   add up to the total when no category is chosen); the price bands count with
//!   every filter, so they always add up to `total`;
//! - one normalised query (lower case, whitespace collapsed, parameters in a fixed
//!   order) is one cache key: see [`SearchQuery::cache_key`].

use poem_openapi::Object;
use sea_orm::{ConnectionTrait, DbErr};
use serde::{Deserialize, Serialize};

use super::{
    model::ProductView,
    repo::search::{self as repo, PRICE_BAND_BOUNDS, SearchFilter, SearchSort},
};

/// The longest query, in characters, after trimming.
pub const MAX_QUERY_CHARS: usize = 200;
/// Words past this many are matched as typed, never corrected (a bound on the
/// lexicon lookups one query makes).
pub const MAX_CORRECTED_WORDS: usize = 8;

/// A validated search.
#[derive(Debug, Clone, Serialize)]
pub struct SearchQuery {
    /// The query, lower case, whitespace collapsed.
    pub q: String,
    /// Category code or slug (lower case).
    pub category: Option<String>,
    /// Lowest price in cents.
    pub min_price_cents: Option<i64>,
    /// Highest price in cents.
    pub max_price_cents: Option<i64>,
    /// In stock (true) or sold out (false).
    pub in_stock: Option<bool>,
    /// Lowest average rating, 1 to 5.
    pub min_rating: Option<f64>,
    /// Order.
    pub sort: SearchSort,
    /// 1-based page.
    pub page: u64,
    /// Page size.
    pub page_size: u64,
}

impl SearchQuery {
    /// The cache key: a hash of the normalised query with its parameters in the fixed
    /// order of this struct's fields.
    pub fn cache_key(&self) -> String {
        use sha2::{Digest, Sha256};
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        format!(
            "products:search:{}",
            &hex::encode(Sha256::digest(canonical))[..32]
        )
    }
}

/// The query as searched: lower case, runs of whitespace made one space, trimmed.
pub fn normalise(raw: &str) -> String {
    raw.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The words of a normalised query, in order: runs of letters and digits.
fn words(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Products in one category (of the matches, without the category filter).
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct CategoryFacet {
    /// Category code.
    pub code: String,
    /// Category name.
    pub name: String,
    /// Matches in it.
    pub count: u64,
}

/// Products in one price band (of the matches, with every filter).
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct PriceBandFacet {
    /// E.g. `1-5` (in the currency's main unit).
    pub label: String,
    /// Lowest price in the band, cents (inclusive).
    pub min_price_cents: i64,
    /// Highest bound, cents (exclusive); `null` for the last band.
    #[oai(nullable)]
    pub max_price_cents: Option<i64>,
    /// Matches in it.
    pub count: u64,
}

/// Counts that help narrow a search.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct SearchFacets {
    /// Per category with matches, most first: every filter applied but `category`.
    pub categories: Vec<CategoryFacet>,
    /// Every band, cheapest first, every filter applied: they add up to `total`.
    pub price_bands: Vec<PriceBandFacet>,
}

/// One page of search results.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct SearchResults {
    /// The products of the page, in order.
    pub items: Vec<ProductView>,
    /// Matches over all pages.
    pub total: u64,
    /// The query as searched when a word was corrected (e.g. `mlik` → `milk`).
    #[oai(skip_serializing_if_is_none)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrected_query: Option<String>,
    /// Facet counts.
    pub facets: SearchFacets,
}

fn band_label(min: i64, max: Option<i64>) -> String {
    let unit = |cents: i64| cents / 100;
    match max {
        Some(max) if min == 0 => format!("under {}", unit(max)),
        Some(max) => format!("{}-{}", unit(min), unit(max)),
        None => format!("{} and over", unit(min)),
    }
}

/// Runs a search: corrects unknown words, then matches, counts and loads the page.
pub async fn search(
    db: &impl ConnectionTrait,
    query: &SearchQuery,
) -> Result<SearchResults, DbErr> {
    let words = words(&query.q);
    let checked = &words[..words.len().min(MAX_CORRECTED_WORDS)];
    let corrections = repo::corrections(db, checked).await?;
    let corrected: Vec<String> = words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            corrections
                .get(i)
                .cloned()
                .flatten()
                .unwrap_or_else(|| w.clone())
        })
        .collect();
    let was_corrected = corrections.iter().any(Option::is_some);
    let text = corrected.join(" ");
    let filter = SearchFilter {
        text: &text,
        category: query.category.as_deref(),
        min_price_cents: query.min_price_cents,
        max_price_cents: query.max_price_cents,
        in_stock: query.in_stock,
        min_rating: query.min_rating,
        sort: query.sort,
        limit: query.page_size,
        offset: (query.page - 1).saturating_mul(query.page_size),
    };
    let found = repo::matches(db, &filter).await?;
    let items = repo::products_in_order(db, &found.ids)
        .await?
        .into_iter()
        .map(ProductView::from)
        .collect();
    let mut lower = 0;
    let price_bands = found
        .price_bands
        .iter()
        .enumerate()
        .map(|(i, &count)| {
            let upper = PRICE_BAND_BOUNDS.get(i).copied();
            let band = PriceBandFacet {
                label: band_label(lower, upper),
                min_price_cents: lower,
                max_price_cents: upper,
                count,
            };
            lower = upper.unwrap_or(lower);
            band
        })
        .collect();
    Ok(SearchResults {
        items,
        total: found.total,
        corrected_query: was_corrected.then_some(text),
        facets: SearchFacets {
            categories: found
                .categories
                .into_iter()
                .map(|(code, name, count)| CategoryFacet { code, name, count })
                .collect(),
            price_bands,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_normalised_to_one_spelling() {
        assert_eq!(normalise("  Oat\t MILK \n"), "oat milk");
    }

    #[test]
    fn words_are_runs_of_letters_and_digits() {
        assert_eq!(
            words("dark-chocolate 70% bar"),
            ["dark", "chocolate", "70", "bar"]
        );
    }

    #[test]
    fn the_price_bands_cover_every_price_once() {
        assert_eq!(band_label(0, Some(100)), "under 1");
        assert_eq!(band_label(100, Some(500)), "1-5");
        assert_eq!(band_label(5000, None), "50 and over");
    }

    #[test]
    fn the_same_search_spelled_alike_has_one_key_and_another_page_another() {
        let q = SearchQuery {
            q: normalise("Oat  Milk"),
            category: None,
            min_price_cents: None,
            max_price_cents: None,
            in_stock: None,
            min_rating: None,
            sort: SearchSort::Relevance,
            page: 1,
            page_size: 20,
        };
        let same = SearchQuery {
            q: normalise(" oat milk "),
            ..q.clone()
        };
        let other = SearchQuery {
            page: 2,
            ..q.clone()
        };
        assert_eq!(q.cache_key(), same.cache_key());
        assert_ne!(q.cache_key(), other.cache_key());
    }
}
