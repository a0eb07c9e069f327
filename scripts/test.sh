#!/usr/bin/env bash
# Every test of the shop, tier by tier: formatting and lints; the unit and in-process
# tests (`cargo test`: PostgreSQL and Redis only, each test with its own database and
# Redis index); then, against the real stack (brought up here, idempotent), the
# end-to-end tests (`cargo test -p e2e`: nginx, four instances, tansu, MailDev, the
# consumers), a schemathesis fuzz of every operation of the OpenAPI document, the
# Kubernetes manifests, and the docker-compose operator journey on stand-in images
# (scripts/compose-test.sh).
# Exits non-zero on any failure. In CI (CI=true) the stack is stopped at the end.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env
cd "$REPO"

if [ "${CI:-}" = "true" ]; then
    trap '"$REPO/scripts/stack.sh" down >/dev/null 2>&1 || true' EXIT
fi

log "cargo fmt --check"
cargo fmt --all --check

log "cargo clippy"
cargo clippy --release --workspace --all-targets --quiet -- -D warnings

# Counts the passed and failed tests of a cargo test log.
count_tests() {
    passed=$((passed + $(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' "$1" | awk '{s+=$4} END {print s+0}')))
    failed=$((failed + $(grep -Eo '[0-9]+ failed;' "$1" | awk '{s+=$1} END {print s+0}')))
}
passed=0
failed=0

mkdir -p "$RUNTIME"
log "cargo test: unit and in-process tiers (PostgreSQL and Redis only)"
cargo test --release --no-fail-fast 2>&1 | tee "$RUNTIME/cargo-test-in-process.log"
in_process_status="${PIPESTATUS[0]}"
count_tests "$RUNTIME/cargo-test-in-process.log"
[ "$in_process_status" -eq 0 ] || { echo "tests: $passed passed, $failed failed"; exit 1; }

# SHOP_FRESH_DATA (set by .ci/run) empties the data for the first `up` only: tests
# run `stack.sh up` again to bring stopped parts back, and must find their data.
fresh="${SHOP_FRESH_DATA:-}"
unset SHOP_FRESH_DATA
SHOP_FRESH_DATA="$fresh" "$REPO/scripts/stack.sh" up

ports="$(for ((i = 0; i < API_INSTANCES; i++)); do printf '%s,' $((API_BASE_PORT + i)); done)"
export SHOP_URL="http://127.0.0.1:$NGINX_PORT"
export SHOP_INSTANCE_PORTS="${ports%,}"
export MAILDEV_URL="http://127.0.0.1:$MAILDEV_WEB_PORT"
export SHOP_LOG_DIR="$LOGS"

log "cargo test -p e2e: end-to-end tier against the stack"
rm -f "$LOGS/operations-summary.log"
cargo test --release -p e2e --no-fail-fast 2>&1 | tee "$RUNTIME/cargo-test.log"
cargo_status="${PIPESTATUS[0]}"
count_tests "$RUNTIME/cargo-test.log"
if [ -s "$LOGS/operations-summary.log" ]; then
    log "operations (scale, rolling restart, admin stats)"
    cat "$LOGS/operations-summary.log"
fi
[ "$cargo_status" -eq 0 ] || { echo "tests: $passed passed, $failed failed"; exit 1; }

log "schemathesis: every operation of /openapi.json through nginx"
ST="$RUNTIME/venv/bin/schemathesis"
if [ ! -x "$ST" ]; then
    tools_venv
    "$RUNTIME/venv/bin/pip" install -q 'schemathesis>=4,<5'
fi
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
# Fuzz as the admin, so the protected operations are exercised too, not just their
# 401. Logout would revoke that token mid-run, so it gets a run of its own.
# From a loopback address of its own: the fuzz logs in with made-up passwords from
# 127.0.0.1, and a run within 15 minutes of another would find that address locked.
own_ip="127.$((RANDOM % 254 + 1)).$((RANDOM % 256)).$((RANDOM % 253 + 2))"
token="$(curl -fsS --interface "$own_ip" -X POST "$SHOP_URL/api/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["access_token"])')"
"$ST" run "$SHOP_URL/openapi.json" --url "$SHOP_URL" -H "Authorization: Bearer $token" \
    --exclude-operation-id auth_logout --checks "$checks" \
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-30}" --no-color | tee "$RUNTIME/schemathesis.log"
"$ST" run "$SHOP_URL/openapi.json" --url "$SHOP_URL" --include-operation-id auth_logout \
    --checks "$checks" --max-examples 10 --no-color | tee -a "$RUNTIME/schemathesis.log"
passed=$((passed + 1))

log "Kubernetes manifests (schema)"
"$REPO/scripts/k8s-validate.sh"
passed=$((passed + 1))

# docker-compose.yml for real, on stand-in images (installs the Docker engine if it is
# missing; SHOP_SKIP_COMPOSE_TEST=1 skips it on a machine where that is unwanted).
if [ "${SHOP_SKIP_COMPOSE_TEST:-}" = 1 ]; then
    log "compose journey skipped (SHOP_SKIP_COMPOSE_TEST=1)"
else
    log "compose journey: up, journey, scale 4 -> 6 -> 2 -> 4, rolling restart, down"
    "$REPO/scripts/compose-test.sh"
    passed=$((passed + 1))
fi

echo "tests: $passed passed, 0 failed"
