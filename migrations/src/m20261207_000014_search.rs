//! Catalogue search (issue 14), kept current by the database, not by the API:
//!
//! - `products.search_document`: a `tsvector` (config `english`) of the name (weight
//!   A), the category's name (B) and the description (C). A `BEFORE INSERT OR UPDATE
//!   OF name, description, category` trigger computes it, and renaming a category
//!   recomputes the documents of its products, so no writer can forget it. A GIN
//!   index serves `@@`; the API never reads the column itself.
//! - `search_terms`: the lexicon of every word products and categories use (lower
//!   case, letters only, 3 to 40 of them), with its English stem. Typo tolerance
//!   corrects a query word that is no known word to its nearest term (`levenshtein`,
//!   candidates narrowed by a trigram index or by first letter and length), so a
//!   transposition in a short word ("mlik"), which shares almost no trigrams with
//!   "milk", is still found. Statement-level triggers with transition tables add the
//!   new words of each statement, sorted, `ON CONFLICT DO NOTHING`: concurrent
//!   writers take the key locks in one order and cannot deadlock. The lexicon only
//!   grows (a word no product uses any more only costs a correction to nothing).
//! - `pg_trgm` (similarity in ranking, trigram candidates) and `fuzzystrmatch`
//!   (`levenshtein`), both trusted extensions the database owner may create.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS fuzzystrmatch;

-- The one definition of a product's search document.
CREATE FUNCTION product_search_document(p_name TEXT, p_category TEXT, p_description TEXT)
RETURNS tsvector LANGUAGE sql STABLE AS $$
    SELECT setweight(to_tsvector('english', coalesce(p_name, '')), 'A')
        || setweight(to_tsvector('english',
               coalesce((SELECT c.name FROM categories c WHERE c.code = p_category), '')), 'B')
        || setweight(to_tsvector('english', coalesce(p_description, '')), 'C')
$$;

ALTER TABLE products ADD COLUMN search_document tsvector NOT NULL DEFAULT ''::tsvector;

CREATE FUNCTION products_search_document_current() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_document := product_search_document(NEW.name, NEW.category, NEW.description);
    RETURN NEW;
END $$;
CREATE TRIGGER products_search_document BEFORE INSERT OR UPDATE OF name, description, category
    ON products FOR EACH ROW EXECUTE FUNCTION products_search_document_current();

CREATE FUNCTION categories_rename_refreshes_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE products p
       SET search_document = product_search_document(p.name, p.category, p.description)
     WHERE p.category = NEW.code;
    RETURN NULL;
END $$;
CREATE TRIGGER categories_search_refresh AFTER UPDATE OF name ON categories
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION categories_rename_refreshes_search();

UPDATE products SET search_document = product_search_document(name, category, description);
CREATE INDEX products_search_idx ON products USING gin (search_document) WHERE status = 'published';

-- The words of a text, as the lexicon keeps them.
CREATE FUNCTION search_words(doc TEXT) RETURNS SETOF TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT DISTINCT w FROM regexp_split_to_table(lower(coalesce(doc, '')), '[^[:alpha:]]+') AS w
     WHERE length(w) BETWEEN 3 AND 40
$$;
-- The English stem of one word (itself for a stop word).
CREATE FUNCTION search_stem(word TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce((ts_lexize('english_stem', word))[1], word)
$$;
-- The letters of a word, sorted: a transposition ("mlik", "imlk") keeps them.
CREATE FUNCTION search_anagram(word TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT string_agg(c, '' ORDER BY c) FROM regexp_split_to_table(word, '') AS c
$$;
-- How far a query word is from a term: `levenshtein`, except that two letters swapped
-- count as one typo (Levenshtein counts them as two).
CREATE FUNCTION search_typo_distance(word TEXT, term TEXT) RETURNS INTEGER LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN d = 2 AND length(word) = length(term)
                     AND search_anagram(word) = search_anagram(term) THEN 1 ELSE d END
      FROM (SELECT levenshtein_less_equal(word, term, 2) AS d) x
$$;

CREATE TABLE search_terms (
    term    TEXT PRIMARY KEY,
    stem    TEXT NOT NULL,
    anagram TEXT NOT NULL,
    CONSTRAINT search_terms_term_length CHECK (length(term) BETWEEN 3 AND 40)
);
CREATE INDEX search_terms_stem_idx ON search_terms (stem);
CREATE INDEX search_terms_anagram_idx ON search_terms (anagram);
CREATE INDEX search_terms_shape_idx ON search_terms (left(term, 1), length(term));
CREATE INDEX search_terms_trgm_idx ON search_terms USING gin (term gin_trgm_ops);

-- Adds words to the lexicon, sorted: concurrent writers lock new keys in one order.
CREATE FUNCTION search_terms_add(words TEXT[]) RETURNS void LANGUAGE sql AS $$
    INSERT INTO search_terms (term, stem, anagram)
    SELECT w, search_stem(w), search_anagram(w)
      FROM (SELECT DISTINCT unnest(words) AS w) s
     WHERE w IS NOT NULL
     ORDER BY w
    ON CONFLICT (term) DO NOTHING
$$;

CREATE FUNCTION search_terms_from_inserted_products() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM search_terms_add(ARRAY(
        SELECT w FROM new_rows n, search_words(n.name || ' ' || n.description) AS w));
    RETURN NULL;
END $$;
-- Only rows whose words changed: an order moving stock adds nothing and costs a join.
CREATE FUNCTION search_terms_from_updated_products() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM search_terms_add(ARRAY(
        SELECT w
          FROM new_rows n JOIN old_rows o ON o.id = n.id,
               search_words(n.name || ' ' || n.description) AS w
         WHERE n.name IS DISTINCT FROM o.name OR n.description IS DISTINCT FROM o.description));
    RETURN NULL;
END $$;
-- Transition tables allow one event per trigger, and no column list.
CREATE TRIGGER products_search_terms_insert AFTER INSERT ON products
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION search_terms_from_inserted_products();
CREATE TRIGGER products_search_terms_update AFTER UPDATE ON products
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION search_terms_from_updated_products();

CREATE FUNCTION search_terms_from_categories() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM search_terms_add(ARRAY(SELECT w FROM new_rows n, search_words(n.name) AS w));
    RETURN NULL;
END $$;
CREATE TRIGGER categories_search_terms_insert AFTER INSERT ON categories
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION search_terms_from_categories();
CREATE TRIGGER categories_search_terms_update AFTER UPDATE ON categories
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION search_terms_from_categories();

SELECT search_terms_add(ARRAY(
    SELECT search_words(name || ' ' || description) FROM products
    UNION SELECT search_words(name) FROM categories));
"#;

const DOWN: &str = r#"
DROP TRIGGER categories_search_terms_update ON categories;
DROP TRIGGER categories_search_terms_insert ON categories;
DROP FUNCTION search_terms_from_categories();
DROP TRIGGER products_search_terms_update ON products;
DROP TRIGGER products_search_terms_insert ON products;
DROP FUNCTION search_terms_from_updated_products();
DROP FUNCTION search_terms_from_inserted_products();
DROP FUNCTION search_terms_add(TEXT[]);
DROP TABLE search_terms;
DROP FUNCTION search_typo_distance(TEXT, TEXT);
DROP FUNCTION search_anagram(TEXT);
DROP FUNCTION search_stem(TEXT);
DROP FUNCTION search_words(TEXT);
DROP TRIGGER categories_search_refresh ON categories;
DROP FUNCTION categories_rename_refreshes_search();
DROP TRIGGER products_search_document ON products;
DROP FUNCTION products_search_document_current();
DROP INDEX products_search_idx;
ALTER TABLE products DROP COLUMN search_document;
DROP FUNCTION product_search_document(TEXT, TEXT, TEXT);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_sql(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_sql(manager, DOWN).await
    }
}
