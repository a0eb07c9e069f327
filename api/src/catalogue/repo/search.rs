//! Search statements: typo corrections from the `search_terms` lexicon, and one
//! statement that answers a page of ids, the total and both facets (migration
//! `m20261207_000014_search` keeps the documents and the lexicon current).
//!
//! Every value is bound; only fixed fragments (the filters present, the `ORDER BY`
//! of a sort) are chosen by the code.

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Value};
use uuid::Uuid;

use super::{COLUMNS, FROM, ProductRow, with_images};
use crate::{catalogue::model::Product, sql::stmt};

/// Upper bounds (exclusive, in cents) of the price bands but the last; the bands
/// are `[0, 100)`, `[100, 500)`, … `[5000, ∞)`.
pub const PRICE_BAND_BOUNDS: [i64; 5] = [100, 500, 1000, 2000, 5000];

/// How many of the best matches by `ts_rank_cd` are re-ranked with the name's
/// trigram similarity: similarity costs microseconds a row, so re-ranking a query
/// that matches the whole catalogue would cost tens of milliseconds. Past them,
/// results follow `ts_rank_cd` alone; the order stays total and stable across pages.
pub const RELEVANCE_POOL: u64 = 500;

/// Search orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum, serde::Serialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum SearchSort {
    /// Best match first: `ts_rank_cd` (name over category over description) plus the
    /// name's trigram similarity to the query.
    Relevance,
    /// Cheapest first.
    PriceAsc,
    /// Dearest first.
    PriceDesc,
    /// Newest first.
    Newest,
    /// Best average rating first (unrated last), then most ratings.
    Rating,
}

/// What one search statement filters and orders by.
#[derive(Debug, Clone)]
pub struct SearchFilter<'a> {
    /// The text `plainto_tsquery('english', …)` reads (corrected words).
    pub text: &'a str,
    /// A category code or slug: that category and its descendants.
    pub category: Option<&'a str>,
    /// Lowest price.
    pub min_price_cents: Option<i64>,
    /// Highest price.
    pub max_price_cents: Option<i64>,
    /// In stock (true) or sold out (false).
    pub in_stock: Option<bool>,
    /// Lowest average rating.
    pub min_rating: Option<f64>,
    /// Order.
    pub sort: SearchSort,
    /// Page size.
    pub limit: u64,
    /// Rows skipped.
    pub offset: u64,
}

/// One page of ids and the facets.
#[derive(Debug)]
pub struct Matches {
    /// Ids of the page, in order.
    pub ids: Vec<Uuid>,
    /// Matches over all pages.
    pub total: u64,
    /// `(code, name, count)` per category, the category filter left out.
    pub categories: Vec<(String, String, u64)>,
    /// Count per band of [`PRICE_BAND_BOUNDS`], every filter applied.
    pub price_bands: Vec<u64>,
}

#[derive(Debug, FromQueryResult)]
struct Correction {
    word: String,
    correction: Option<String>,
}

/// For each word, its correction: `None` when a published product matches it (the
/// word or its stem), when it is too short (under 4 letters) or not only letters, or
/// when no term is near enough (1 typo for 4-5 letters, 2 beyond; two letters swapped
/// count as one). A correction is always a word of a published product: the lexicon
/// also holds the words of drafts and archived products (it only grows), and a
/// suggestion must never reveal one.
pub async fn corrections(
    db: &impl ConnectionTrait,
    words: &[String],
) -> Result<Vec<Option<String>>, DbErr> {
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let json = serde_json::to_string(words).map_err(|e| DbErr::Custom(e.to_string()))?;
    let found = Correction::find_by_statement(stmt(
        "SELECT w.word,
                CASE WHEN length(w.word) < 4 OR w.word !~ '^[[:alpha:]]+$'
                       OR EXISTS (SELECT 1 FROM products p WHERE p.status = 'published'
                                    AND p.search_document @@ plainto_tsquery('english', w.word))
                     THEN NULL
                     ELSE (SELECT c.term FROM (
                              SELECT t.term FROM search_terms t
                               WHERE left(t.term, 1) = left(w.word, 1)
                                 AND length(t.term) BETWEEN length(w.word) - k.d AND length(w.word) + k.d
                              UNION SELECT t.term FROM search_terms t
                               WHERE t.anagram = search_anagram(w.word)
                              UNION SELECT t.term FROM search_terms t WHERE t.term % w.word) c
                            WHERE search_typo_distance(w.word, c.term) <= k.d
                              AND EXISTS (SELECT 1 FROM products p WHERE p.status = 'published'
                                    AND p.search_document @@ plainto_tsquery('english', c.term))
                            ORDER BY search_typo_distance(w.word, c.term),
                                     similarity(c.term, w.word) DESC, c.term
                            LIMIT 1)
                END AS correction
           FROM json_array_elements_text($1::json) WITH ORDINALITY AS w(word, ord)
          CROSS JOIN LATERAL (SELECT CASE WHEN length(w.word) <= 5 THEN 1 ELSE 2 END AS d) k
          ORDER BY w.ord",
        vec![json.into()],
    ))
    .all(db)
    .await?;
    Ok(words
        .iter()
        .zip(found)
        .map(|(word, c)| c.correction.filter(|_| &c.word == word))
        .collect())
}

#[derive(Debug, FromQueryResult)]
struct MatchRow {
    total: i64,
    ids: String,
    categories: String,
    price_bands: String,
}

/// The sort keys of an order, most significant first: an expression over the
/// filtered row `f` (and the relevance `pool`) and its direction. The last key is the
/// id, so the order is total and pages never overlap.
fn sort_keys(sort: SearchSort) -> &'static [(&'static str, &'static str)] {
    match sort {
        SearchSort::Relevance => &[
            ("pool.boosted", "DESC NULLS LAST"),
            ("f.rank", "DESC"),
            ("f.id", "ASC"),
        ],
        SearchSort::PriceAsc => &[("f.price_cents", "ASC"), ("f.id", "ASC")],
        SearchSort::PriceDesc => &[("f.price_cents", "DESC"), ("f.id", "ASC")],
        SearchSort::Newest => &[("f.created_at", "DESC"), ("f.id", "ASC")],
        SearchSort::Rating => &[
            ("f.rating", "DESC NULLS LAST"),
            ("f.rating_count", "DESC"),
            ("f.id", "ASC"),
        ],
    }
}

/// The page's query and the order of its ids: the keys are selected as `s0`, `s1`…
/// so the page is chosen by a bounded (top-N) sort of the matches, and only its own
/// rows are sorted again for the JSON array (a window function numbering the rows
/// would sort every match).
fn page_query(sort: SearchSort, pool: &str, limit: u64, offset: u64) -> (String, String) {
    let keys = sort_keys(sort);
    let selected = keys
        .iter()
        .enumerate()
        .map(|(i, (expr, _))| format!("{expr} AS s{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let inner = keys
        .iter()
        .map(|(expr, dir)| format!("{expr} {dir}"))
        .collect::<Vec<_>>()
        .join(", ");
    let outer = keys
        .iter()
        .enumerate()
        .map(|(i, (_, dir))| format!("page.s{i} {dir}"))
        .collect::<Vec<_>>()
        .join(", ");
    (
        format!(
            "SELECT f.id, {selected} FROM filtered f {pool}
              ORDER BY {inner} LIMIT {limit} OFFSET {offset}"
        ),
        outer,
    )
}

/// The page, the total and the facets of one search, in one statement.
pub async fn matches(db: &impl ConnectionTrait, f: &SearchFilter<'_>) -> Result<Matches, DbErr> {
    let mut values: Vec<Value> = vec![f.text.to_owned().into()];
    let mut bind = |v: Value| {
        values.push(v);
        format!("${}", values.len())
    };
    let mut conditions = vec![
        "p.status = 'published'".to_owned(),
        "p.search_document @@ q.query".to_owned(),
    ];
    if let Some(min) = f.min_price_cents {
        conditions.push(format!("p.price_cents >= {}", bind(min.into())));
    }
    if let Some(max) = f.max_price_cents {
        conditions.push(format!("p.price_cents <= {}", bind(max.into())));
    }
    match f.in_stock {
        Some(true) => conditions.push("p.stock > 0".into()),
        Some(false) => conditions.push("p.stock = 0".into()),
        None => {}
    }
    let rated = f.min_rating.is_some() || f.sort == SearchSort::Rating;
    if let Some(min) = f.min_rating {
        conditions.push(format!(
            "r.rating_count > 0 AND r.rating_sum::numeric / r.rating_count >= {}::numeric",
            bind(min.into())
        ));
    }
    let (rating_columns, rating_join) = if rated {
        (
            ", r.rating_sum::numeric / nullif(r.rating_count, 0) AS rating, \
             coalesce(r.rating_count, 0) AS rating_count",
            "LEFT JOIN product_ratings r ON r.product_id = p.id",
        )
    } else {
        ("", "")
    };
    let (tree, in_category) = match f.category {
        Some(category) => {
            let p = bind(category.to_owned().into());
            (
                format!(
                    "tree AS (
                        SELECT c.id, c.code FROM categories c
                         WHERE c.code = upper({p}) OR c.slug = lower({p})
                        UNION
                        SELECT c.id, c.code FROM categories c JOIN tree t ON c.parent_id = t.id
                    ),"
                ),
                "WHERE m.category IN (SELECT code FROM tree)",
            )
        }
        None => (String::new(), ""),
    };
    let bounds = PRICE_BAND_BOUNDS
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let bands = PRICE_BAND_BOUNDS.len();
    // The rank is computed only for the relevance order (it reads every match's
    // document).
    let rank_columns = if f.sort == SearchSort::Relevance {
        ", lower(p.name) AS lname, ts_rank_cd(p.search_document, q.query) AS rank"
    } else {
        ""
    };
    let pool = if f.sort == SearchSort::Relevance {
        format!(
            "LEFT JOIN (SELECT id, rank + similarity(lname, $1) AS boosted
                          FROM (SELECT id, rank, lname FROM filtered
                                 ORDER BY rank DESC, id LIMIT {RELEVANCE_POOL}) best) pool
                ON pool.id = f.id"
        )
    } else {
        String::new()
    };
    let (page, page_order) = page_query(f.sort, &pool, f.limit, f.offset);
    let sql = format!(
        "WITH RECURSIVE {tree}
         matched AS MATERIALIZED (
            SELECT p.id, p.category, p.created_at, p.price_cents,
                   width_bucket(p.price_cents, ARRAY[{bounds}]::bigint[]) AS band
                   {rank_columns} {rating_columns}
              FROM products p CROSS JOIN plainto_tsquery('english', $1) AS q(query)
              {rating_join}
             WHERE {conditions}
         ),
         filtered AS MATERIALIZED (SELECT m.* FROM matched m {in_category})
         SELECT (SELECT count(*) FROM filtered) AS total,
                (SELECT coalesce(json_agg(page.id ORDER BY {page_order}), '[]')::text
                   FROM ({page}) page) AS ids,
                (SELECT coalesce(json_agg(json_build_array(c.code, c.name, g.n)
                                          ORDER BY g.n DESC, c.code), '[]')::text
                   FROM (SELECT category, count(*) AS n FROM matched GROUP BY category) g
                   JOIN categories c ON c.code = g.category) AS categories,
                (SELECT json_agg(b.n ORDER BY b.band)::text FROM (
                    SELECT s.band, count(f.id) AS n FROM generate_series(0, {bands}) AS s(band)
                      LEFT JOIN filtered f ON f.band = s.band GROUP BY s.band) b) AS price_bands",
        conditions = conditions.join(" AND "),
    );
    let row = MatchRow::find_by_statement(stmt(&sql, values))
        .one(db)
        .await?
        .ok_or_else(|| DbErr::Custom("the search statement answered no row".into()))?;
    let decode = |e: serde_json::Error| DbErr::Custom(format!("search statement: {e}"));
    let categories: Vec<(String, String, i64)> =
        serde_json::from_str(&row.categories).map_err(decode)?;
    let price_bands: Vec<i64> = serde_json::from_str(&row.price_bands).map_err(decode)?;
    Ok(Matches {
        ids: serde_json::from_str(&row.ids).map_err(decode)?,
        total: row.total.max(0) as u64,
        categories: categories
            .into_iter()
            .map(|(code, name, n)| (code, name, n.max(0) as u64))
            .collect(),
        price_bands: price_bands.into_iter().map(|n| n.max(0) as u64).collect(),
    })
}

/// The published products of `ids`, with their images, in the order of `ids` (any
/// unpublished since the page was chosen are left out: never a draft).
pub async fn products_in_order(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<Vec<Product>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = format!(
        "{{{}}}",
        ids.iter()
            .map(Uuid::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut rows = ProductRow::find_by_statement(stmt(
        &format!(
            "SELECT {COLUMNS} FROM {FROM}
             WHERE p.id = ANY($1::text::uuid[]) AND p.status = 'published'"
        ),
        vec![list.into()],
    ))
    .all(db)
    .await?;
    rows.sort_by_key(|r| ids.iter().position(|id| *id == r.id));
    with_images(db, rows).await
}
