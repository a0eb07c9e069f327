#!/usr/bin/env bash
# Seeds N published products (default 10,000) across the 12 seeded categories, with
# realistic grocery words (brand, adjective, noun, size), prices from 0.49 to 99.99,
# some sold out and some rated, for the search benchmark.
#
# Idempotent: product n always gets the same id, `5eedca7a-…` (so a second run adds
# nothing, and a larger N only adds the rest). Tagged by that id prefix, so
# `--remove` deletes exactly the seeded products (archiving those an order or a cart
# still references, which cannot be deleted).
#
#   scripts/seed-catalogue.sh [N]      (DATABASE_URL from .env, or the environment)
#   scripts/seed-catalogue.sh --remove
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env
command -v psql >/dev/null || die "psql is needed (apt-get install postgresql-client)"
: "${DATABASE_URL:?DATABASE_URL is not set (.env)}"

psql_run() { psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" "$@"; }

if [ "${1:-}" = "--remove" ]; then
    psql_run <<'SQL'
BEGIN;
DELETE FROM product_ratings WHERE product_id::text LIKE '5eedca7a-%';
UPDATE products p SET status = 'archived'
 WHERE p.id::text LIKE '5eedca7a-%'
   AND (EXISTS (SELECT 1 FROM order_items o WHERE o.product_id = p.id)
        OR EXISTS (SELECT 1 FROM cart_items c WHERE c.product_id = p.id)
        OR EXISTS (SELECT 1 FROM inventory_movements m WHERE m.product_id = p.id));
DELETE FROM products p
 WHERE p.id::text LIKE '5eedca7a-%'
   AND NOT EXISTS (SELECT 1 FROM order_items o WHERE o.product_id = p.id)
   AND NOT EXISTS (SELECT 1 FROM cart_items c WHERE c.product_id = p.id)
   AND NOT EXISTS (SELECT 1 FROM inventory_movements m WHERE m.product_id = p.id);
COMMIT;
SQL
    log "seeded products removed (those still referenced are archived)"
    log "the catalogue cache still holds them until the next admin write or its TTL"
    exit 0
fi

n="${1:-10000}"
[[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 1000000 ] || die "N must be 1..1000000"

psql_run -v n="$n" <<'SQL'
WITH nouns(noun, category) AS (VALUES
    ('bananas', 'FRUITS_VEGETABLES'), ('apples', 'FRUITS_VEGETABLES'), ('tomatoes', 'FRUITS_VEGETABLES'),
    ('carrots', 'FRUITS_VEGETABLES'), ('spinach', 'FRUITS_VEGETABLES'), ('avocados', 'FRUITS_VEGETABLES'),
    ('milk', 'DAIRY_BAKERY'), ('yogurt', 'DAIRY_BAKERY'), ('cheddar', 'DAIRY_BAKERY'),
    ('butter', 'DAIRY_BAKERY'), ('sourdough bread', 'DAIRY_BAKERY'), ('croissants', 'DAIRY_BAKERY'),
    ('potato chips', 'SNACKS_BRANDED_FOODS'), ('cookies', 'SNACKS_BRANDED_FOODS'), ('granola bars', 'SNACKS_BRANDED_FOODS'),
    ('chocolate', 'SNACKS_BRANDED_FOODS'), ('popcorn', 'SNACKS_BRANDED_FOODS'), ('pretzels', 'SNACKS_BRANDED_FOODS'),
    ('orange juice', 'BEVERAGES'), ('coffee beans', 'BEVERAGES'), ('green tea', 'BEVERAGES'),
    ('sparkling water', 'BEVERAGES'), ('lemonade', 'BEVERAGES'), ('cola', 'BEVERAGES'),
    ('shampoo', 'PERSONAL_CARE'), ('toothpaste', 'PERSONAL_CARE'), ('body lotion', 'PERSONAL_CARE'),
    ('deodorant', 'PERSONAL_CARE'), ('hand soap', 'PERSONAL_CARE'), ('conditioner', 'PERSONAL_CARE'),
    ('paper towels', 'HOUSEHOLD_SUPPLIES'), ('light bulbs', 'HOUSEHOLD_SUPPLIES'), ('batteries', 'HOUSEHOLD_SUPPLIES'),
    ('trash bags', 'HOUSEHOLD_SUPPLIES'), ('candles', 'HOUSEHOLD_SUPPLIES'), ('storage boxes', 'HOUSEHOLD_SUPPLIES'),
    ('chicken breast', 'MEAT_SEAFOOD'), ('salmon fillet', 'MEAT_SEAFOOD'), ('ground beef', 'MEAT_SEAFOOD'),
    ('shrimp', 'MEAT_SEAFOOD'), ('pork sausages', 'MEAT_SEAFOOD'), ('tuna steak', 'MEAT_SEAFOOD'),
    ('olive oil', 'GOURMET_WORLD_FOOD'), ('truffle pasta', 'GOURMET_WORLD_FOOD'), ('kimchi', 'GOURMET_WORLD_FOOD'),
    ('curry paste', 'GOURMET_WORLD_FOOD'), ('balsamic vinegar', 'GOURMET_WORLD_FOOD'), ('miso soup', 'GOURMET_WORLD_FOOD'),
    ('diapers', 'BABY_CARE'), ('baby wipes', 'BABY_CARE'), ('baby formula', 'BABY_CARE'),
    ('baby shampoo', 'BABY_CARE'), ('teething rings', 'BABY_CARE'), ('baby food', 'BABY_CARE'),
    ('dish soap', 'CLEANING_HOUSEHOLD'), ('laundry detergent', 'CLEANING_HOUSEHOLD'), ('glass cleaner', 'CLEANING_HOUSEHOLD'),
    ('sponges', 'CLEANING_HOUSEHOLD'), ('bleach', 'CLEANING_HOUSEHOLD'), ('floor cleaner', 'CLEANING_HOUSEHOLD'),
    ('basmati rice', 'STAPLES'), ('flour', 'STAPLES'), ('sugar', 'STAPLES'),
    ('lentils', 'STAPLES'), ('oats', 'STAPLES'), ('pasta', 'STAPLES'),
    ('dog food', 'PET_CARE'), ('cat litter', 'PET_CARE'), ('bird seed', 'PET_CARE'),
    ('dog treats', 'PET_CARE'), ('cat food', 'PET_CARE'), ('fish flakes', 'PET_CARE')),
numbered AS (SELECT row_number() OVER () - 1 AS i, noun, category FROM nouns),
adjectives(a) AS (SELECT unnest(ARRAY['organic', 'fresh', 'classic', 'premium', 'family', 'natural',
    'crunchy', 'smooth', 'spicy', 'sweet', 'unsalted', 'wholegrain', 'lactose free', 'vegan',
    'gluten free', 'extra large', 'mini', 'reduced fat', 'wild', 'smoked'])),
brands(b) AS (SELECT unnest(ARRAY['Greenfield', 'Sunvale', 'Northwind', 'Harbor', 'Meadowbrook',
    'Bluepeak', 'Goldleaf', 'Riverside', 'Oakridge', 'Silverline', 'Maple Farm', 'Coastal'])),
sizes(s) AS (SELECT unnest(ARRAY['250 g', '500 g', '1 kg', '2 kg', '330 ml', '1 l', '6 pack', '12 pack'])),
adj AS (SELECT row_number() OVER () - 1 AS i, a FROM adjectives),
brand AS (SELECT row_number() OVER () - 1 AS i, b FROM brands),
size AS (SELECT row_number() OVER () - 1 AS i, s FROM sizes),
seeded AS (
    SELECT g AS n,
           (SELECT count(*) FROM nouns) AS noun_count,
           (SELECT count(*) FROM adjectives) AS adj_count
      FROM generate_series(1, :n) AS g)
INSERT INTO products (id, name, description, price_cents, currency, category, stock,
                      low_stock_threshold, status, created_at, updated_at)
SELECT ('5eedca7a' || substr(md5('seed-catalogue:' || s.n), 9, 24))::uuid,
       brand.b || ' ' || adj.a || ' ' || numbered.noun || ' ' || size.s,
       'A ' || adj.a || ' ' || numbered.noun || ' from ' || brand.b || ', packed ' || size.s
           || '. Good with ' || other.noun || '; keep cool and dry. Seed item ' || s.n || '.',
       49 + (s.n * 7919) % 9951,
       'USD',
       numbered.category,
       CASE WHEN s.n % 11 = 0 THEN 0 ELSE 1 + s.n % 200 END,
       5,
       'published',
       now() - make_interval(secs => s.n),
       now() - make_interval(secs => s.n)
  FROM seeded s
  JOIN numbered ON numbered.i = s.n % s.noun_count
  JOIN numbered other ON other.i = (s.n * 31 + 7) % s.noun_count
  JOIN adj ON adj.i = (s.n / s.noun_count) % s.adj_count
  JOIN brand ON brand.i = (s.n * 13) % 12
  JOIN size ON size.i = (s.n * 5) % 8
ON CONFLICT (id) DO NOTHING;

-- Ratings for every third seeded product (a product's statistics, as reviews keep them).
INSERT INTO product_ratings (product_id, rating_count, rating_sum, stars_1, stars_2, stars_3, stars_4, stars_5)
SELECT id, c1 + c2 + c3 + c4 + c5, c1 + 2 * c2 + 3 * c3 + 4 * c4 + 5 * c5, c1, c2, c3, c4, c5
  FROM (SELECT ('5eedca7a' || substr(md5('seed-catalogue:' || g), 9, 24))::uuid AS id,
               g % 3 AS c1, g % 2 AS c2, g % 5 AS c3, g % 7 AS c4, g % 4 + 1 AS c5
          FROM generate_series(3, :n, 3) AS g) r
ON CONFLICT (product_id) DO NOTHING;
ANALYZE products;
ANALYZE search_terms;
ANALYZE product_ratings;
SQL
log "seeded $n published products (id prefix 5eedca7a-; remove with --remove)"
log "the catalogue cache shows them after the next admin write or its TTL"
