#!/usr/bin/env bash
# Login throughput and latency through nginx at a few concurrencies, printed beside
# the cost of one bcrypt verify at the configured cost, measured in the same run by
# the same code (`api bcrypt-bench`). A login should cost little more than its verify.
#
#   scripts/bench-login.sh            (the stack must be up: scripts/stack.sh up)
#   BENCH_SECONDS=10 BENCH_CONCURRENCY="1 2 4 8" scripts/bench-login.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env
command -v wrk >/dev/null || { log "installing wrk"; apt_install wrk; }
http_ok "http://127.0.0.1:$NGINX_PORT/health/ready" || die "the stack is not up (scripts/stack.sh up)"

export BENCH_EMAIL="$ADMIN_EMAIL" BENCH_PASSWORD="$ADMIN_PASSWORD"
# wrk sends from 127.0.0.1, where the schemathesis fuzz logs in with made-up passwords
# and may have locked the admin account for that address: `create-admin` (unchanged
# password, so no session ends) forgets the account's failures first.
"$BIN/api" create-admin >/dev/null
seconds="${BENCH_SECONDS:-10}"
bcrypt_ms="$("$BIN/api" bcrypt-bench 30)"

printf '\nbcrypt verify at cost %s (same binary, same machine, this run): %s ms\n\n' "$BCRYPT_COST" "$bcrypt_ms"
printf '%-12s %10s %10s %12s %16s %8s\n' concurrency p50_ms p99_ms logins/s "p50/bcrypt" non200
for c in ${BENCH_CONCURRENCY:-1 2 4 8}; do
    line="$(wrk -t1 -c"$c" -d"${seconds}s" --latency -s "$REPO/scripts/bench/login.lua" \
        "http://127.0.0.1:$NGINX_PORT/api/auth/login" | grep '^BENCH')"
    p50="$(sed -E 's/.*p50_ms=([0-9.]+).*/\1/' <<<"$line")"
    p99="$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$line")"
    rps="$(sed -E 's/.*rps=([0-9.]+).*/\1/' <<<"$line")"
    bad="$(sed -E 's/.*non200=([0-9]+).*/\1/' <<<"$line")"
    ratio="$(awk -v a="$p50" -v b="$bcrypt_ms" 'BEGIN { printf "%.2f", a / b }')"
    printf '%-12s %10s %10s %12s %16s %8s\n' "$c" "$p50" "$p99" "$rps" "$ratio" "$bad"
done
echo
echo "With 2 cores and BCRYPT_MAX_CONCURRENCY=2 per instance, logins/s is bounded by"
echo "about 2 cores / bcrypt time; past that, latency grows by queueing, not by work."
