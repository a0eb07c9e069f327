#!/usr/bin/env bash
# Orders/s and p50/p99 of one order cycle through nginx (POST /api/cart/items, then
# POST /api/orders), beside the rate of the same SQL statements run by pgbench against
# the same database in the same run (scripts/bench/order.sql); and the time from
# order response to e-mail in the catcher (p50/p95).
#
#   scripts/bench-orders.sh      (the stack must be up: scripts/stack.sh up)
#   BENCH_SECONDS=10 BENCH_CONCURRENCY="4 16" scripts/bench-orders.sh
#
# Then the listing beside orders: readers fetch one cached listing through nginx,
# alone (the reference), then while buyers place BENCH_ORDER_RATE orders/s (200) of
# the product it lists: hit ratio, p99, and the largest lag of the stock it showed.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env
command -v pgbench >/dev/null || { log "installing pgbench"; apt_install postgresql-contrib; }
http_ok "http://127.0.0.1:$NGINX_PORT/health/ready" || die "the stack is not up (scripts/stack.sh up)"
export SHOP_URL="http://127.0.0.1:$NGINX_PORT" MAILDEV_URL="http://127.0.0.1:$MAILDEV_WEB_PORT"
export BENCH_SECONDS="${BENCH_SECONDS:-10}" BENCH_CONCURRENCY="${BENCH_CONCURRENCY:-4 16}"

(cd "$REPO" && cargo build --release --quiet -p e2e --bin bench-orders --bin bench-listing)
api_out="$("$BIN/bench-orders")"

# pgbench: one bench user and cart per client (ids derived from the client number, as
# scripts/bench/order.sql expects), one product with ample stock.
most=$(tr ' ' '\n' <<<"$BENCH_CONCURRENCY" | sort -n | tail -1)
product=00000000-0000-4000-8000-0000000b3e4c
psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" <<SQL
INSERT INTO products (id, name, price_cents, category, stock)
VALUES ('$product', 'pgbench product', 100, 'STAPLES', 1000000)
ON CONFLICT (id) DO UPDATE SET stock = 1000000, status = 'published';
INSERT INTO users (id, email, password_hash, name, is_verified)
SELECT ('00000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid,
       'bench-user-' || n || '@pgbench.local', '\$2b\$04\$bench', 'pgbench', TRUE
FROM generate_series(0, $most) n ON CONFLICT DO NOTHING;
INSERT INTO addresses (id, user_id, name, line1, city, postal_code, country, is_default_shipping, is_default_billing)
SELECT gen_random_uuid(), u.id, 'pgbench', '1 Bench Street', 'Benchville', '12345', 'US', TRUE, TRUE
FROM users u WHERE u.email LIKE 'bench-user-%@pgbench.local'
  AND NOT EXISTS (SELECT 1 FROM addresses a WHERE a.user_id = u.id AND a.is_default_shipping);
DELETE FROM cart_items ci USING carts c, users u
 WHERE ci.cart_id = c.id AND c.user_id = u.id AND u.email LIKE 'bench-user-%@pgbench.local';
SQL

printf '\nadd to cart + place order, through nginx vs the same SQL in pgbench (%ss each)\n\n' "$BENCH_SECONDS"
printf '%-12s %12s %10s %10s %14s %10s\n' clients "API orders/s" p50_ms p99_ms "pgbench /s" "API/pgbench"
for c in $BENCH_CONCURRENCY; do
    line="$(grep "^API c=$c " <<<"$api_out")"
    rps="$(sed -E 's/.*rps=([0-9.]+).*/\1/' <<<"$line")"
    p50="$(sed -E 's/.*p50_ms=([0-9.]+).*/\1/' <<<"$line")"
    p99="$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$line")"
    tps="$(pgbench -n -c "$c" -j 2 -T "$BENCH_SECONDS" -D product="$product" -f "$REPO/scripts/bench/order.sql" "$DATABASE_URL" 2>/dev/null \
        | awk '/^tps/ { print $3; exit }')"
    ratio="$(awk -v a="$rps" -v b="$tps" 'BEGIN { printf "%.2f", a / b }')"
    printf '%-12s %12s %10s %10s %14s %10s\n' "$c" "$rps" "$p50" "$p99" "$tps" "$ratio"
done
grep '^API' <<<"$api_out" | sed 's/^/  raw: /'
echo
mail="$(grep '^MAIL' <<<"$api_out")"
echo "order response -> confirmation e-mail in the catcher: $mail"
echo
echo "Both sides time the same cycle: add one unit to the cart, then place the order."
echo "The API side adds HTTP, nginx, auth (JWT + Redis session check), the cache's"
echo "stock-version bump, and the outbox relay, Kafka and both consumers working alongside."

echo
printf 'one listing through nginx (%s readers), alone and beside %s orders/s (%ss each)\n\n' \
    "${BENCH_LISTING_READERS:-16}" "${BENCH_ORDER_RATE:-200}" "$BENCH_SECONDS"
listing_out="$("$BIN/bench-listing")"
field() { sed -E "s/.* $1=([^ ]+).*/\1/" <<<"$2"; }
alone="$(grep '^LISTING alone' <<<"$listing_out")"
beside="$(grep '^LISTING beside_orders' <<<"$listing_out")"
orders="$(grep '^ORDERS' <<<"$listing_out")"
printf '%-16s %10s %10s %10s %10s\n' phase "reads/s" p50_ms p99_ms "hit ratio"
for line in "$alone" "$beside"; do
    phase="$(awk '{ print $2 }' <<<"$line")"
    printf '%-16s %10s %10s %10s %10s\n' "$phase" "$(field rps "$line")" "$(field p50_ms "$line")" \
        "$(field p99_ms "$line")" "$(field hit_ratio "$line")"
done
printf '\nbeside orders / alone: reads/s %s, p99 %s\n' \
    "$(awk -v a="$(field rps "$beside")" -v b="$(field rps "$alone")" 'BEGIN { printf "%.2f", a / b }')" \
    "$(awk -v a="$(field p99_ms "$beside")" -v b="$(field p99_ms "$alone")" 'BEGIN { printf "%.2f", a / b }')"
echo "orders placed meanwhile: $(field per_s "$orders")/s (asked $(field target_per_s "$orders")/s), errors $(field errors "$orders")"
echo "lag of the stock shown behind the answered orders: at least $(field max_stock_lag_ms "$orders") ms (the smallest bound every read is consistent with; promised: CATALOGUE_STOCK_STALENESS_MS=${CATALOGUE_STOCK_STALENESS_MS:-1000})"
printf '%s\n' "$listing_out" | sed 's/^/  raw: /'
