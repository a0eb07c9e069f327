#!/usr/bin/env bash
# Search latency through one instance (the issue's measure), beside a plain indexed
# lookup measured in the same run: `GET /api/products/{id}` (one primary-key read
# and its images; cached per id like the search).
#
#   uncached: every request a search no one has asked in this run, after a generation
#             bump (what an admin write does): distinct queries over the seed's
#             vocabulary, typos and filters included, each made distinct by a
#             `min_price_cents` under the cheapest seeded price (same work, new key);
#   cached:   the same searches repeated (X-Cache: HIT).
# Requests are sequential (latency, not throughput), on one keep-alive connection per
# batch, timed by curl.
#
#   scripts/bench-search.sh      (the stack must be up: scripts/stack.sh up)
#   BENCH_PRODUCTS=10000 BENCH_REQUESTS=400 scripts/bench-search.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env
base="http://127.0.0.1:$API_BASE_PORT"
http_ok "$base/health/ready" || die "the stack is not up (scripts/stack.sh up)"
command -v psql >/dev/null || die "psql is needed (apt-get install postgresql-client)"
requests="${BENCH_REQUESTS:-400}"

"$REPO/scripts/seed-catalogue.sh" "${BENCH_PRODUCTS:-10000}"
published="$(psql -Atq "$DATABASE_URL" -c "SELECT count(*) FROM products WHERE status = 'published'")"

# A new generation: nothing cached before this line is served (as after an admin write).
bump_generation() {
    if command -v redis-cli >/dev/null; then
        redis-cli -u "$REDIS_URL" INCR products:generation >/dev/null
    else
        log "no redis-cli: relying on distinct queries alone for the uncached runs"
    fi
}

queries=(
    "q=bananas" "q=milk" "q=organic+milk" "q=greenfield+coffee" "q=shampoo"
    "q=chocolate&sort=price_asc" "q=dog+food&in_stock=true" "q=pasta&category=staples"
    "q=cheddar&sort=rating" "q=olive+oil&min_rating=3" "q=bananna" "q=mlik"
    "q=chocolat" "q=yogurt&category=DAIRY_BAKERY" "q=premium+salmon" "q=vegan+cookies"
    "q=laundry+detergent&sort=price_desc" "q=baby+wipes&page=2" "q=green+tea&sort=newest"
    "q=spicy+kimchi" "q=sparkling+water&max_price_cents=2000" "q=cat+litter" "q=diapers"
    "q=wholegrain+flour" "q=smoked+tuna" "q=lemonade&in_stock=false" "q=toothpaste"
    "q=gluten+free+pasta" "q=coffe+beans" "q=shampo" "q=bread" "q=dairy" "q=household"
)

# times_ms URL... -> one latency (ms) per URL, in order, on one connection (curl's
# `-o` applies to one URL: each gets its own, or the bodies would mix with the times).
times_ms() {
    local args=() url
    for url in "$@"; do args+=(-o /dev/null "$url"); done
    curl -s -w '%{time_total}\n' "${args[@]}" | awk '{ printf "%.3f\n", $1 * 1000 }'
}
# percentiles FILE -> "p50 p95" (ms)
percentiles() {
    sort -n "$1" | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "? ?"; exit }
        i50 = int(NR * 0.50 + 0.5); if (i50 < 1) i50 = 1
        i95 = int(NR * 0.95 + 0.5); if (i95 < 1) i95 = 1; if (i95 > NR) i95 = NR
        printf "%.2f %.2f\n", v[i50], v[i95] }'
}
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# Uncached searches: distinct keys (min_price_cents 0..48 is below every seeded price).
bump_generation
urls=()
for ((i = 0; i < requests; i++)); do
    q="${queries[i % ${#queries[@]}]}"
    urls+=("$base/api/products/search?$q&min_price_cents=$((i / ${#queries[@]} % 49))")
done
# Warm the connection pool and the planner once, outside the samples.
times_ms "$base/api/products/search?q=warmup" >/dev/null
for ((i = 0; i < requests; i += 50)); do times_ms "${urls[@]:i:50}"; done >"$out/search-uncached"

# Cached: the same searches again (hits now), in order.
for ((i = 0; i < requests; i += 50)); do times_ms "${urls[@]:i:50}"; done >"$out/search-cached"
hits="$(curl -s -o /dev/null -D - "${urls[0]}" | awk 'tolower($1) == "x-cache:" { print $2 }' | tr -d '\r')"

# The reference, in the same run: products by id, first read (uncached) then again.
mapfile -t ids < <(psql -Atq "$DATABASE_URL" -c \
    "SELECT id FROM products WHERE status = 'published' ORDER BY random() LIMIT $requests")
bump_generation
ref_urls=()
for id in "${ids[@]}"; do ref_urls+=("$base/api/products/$id"); done
for ((i = 0; i < ${#ref_urls[@]}; i += 50)); do times_ms "${ref_urls[@]:i:50}"; done >"$out/ref-uncached"
for ((i = 0; i < ${#ref_urls[@]}; i += 50)); do times_ms "${ref_urls[@]:i:50}"; done >"$out/ref-cached"

read -r su50 su95 <<<"$(percentiles "$out/search-uncached")"
read -r sc50 sc95 <<<"$(percentiles "$out/search-cached")"
read -r ru50 ru95 <<<"$(percentiles "$out/ref-uncached")"
read -r rc50 rc95 <<<"$(percentiles "$out/ref-cached")"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "?" }'; }

printf '\nSearch through one instance (%s), %s published products, %s requests per row\n' \
    "$base" "$published" "$requests"
printf 'goal: search p95 <= 20 ms uncached, <= 2 ms cached (a repeat answered X-Cache: %s)\n\n' "${hits:-?}"
printf '%-40s %9s %9s %14s\n' "" "p50 ms" "p95 ms" "p95 vs ref"
printf '%-40s %9s %9s %14s\n' "search, uncached (distinct queries)" "$su50" "$su95" "$(ratio "$su95" "$ru95")"
printf '%-40s %9s %9s %14s\n' "ref: GET /api/products/{id}, uncached" "$ru50" "$ru95" ""
printf '%-40s %9s %9s %14s\n' "search, cached" "$sc50" "$sc95" "$(ratio "$sc95" "$rc95")"
printf '%-40s %9s %9s %14s\n' "ref: GET /api/products/{id}, cached" "$rc50" "$rc95" ""
echo
echo "The reference is a primary-key read through the same instance, cache and network in this run;"
echo "the ratios are what carry over between machines."
