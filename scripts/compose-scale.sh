#!/usr/bin/env bash
# Scales or rolls the `api` service of the docker-compose stack, and checks that nginx
# really spreads requests over every replica.
#
#   scripts/compose-scale.sh N        run N api replicas (1-99), wait until all are
#                                     healthy and nginx has answered from each of them
#   scripts/compose-scale.sh --roll   replace every api replica by one from the current
#                                     image (build it first: docker compose build api),
#                                     without a moment with fewer healthy replicas
#
# nginx re-resolves `api` through Docker's DNS every 5 s (nginx/compose.conf), so
# nothing is reloaded. A later plain `docker compose up -d` goes back to
# deploy.replicas (4); keep passing `--scale api=N` to keep N.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck disable=SC1091
[ -f .env ] && NGINX_PORT="$(. ./.env >/dev/null 2>&1; echo "${NGINX_PORT:-}")"
URL="http://127.0.0.1:${NGINX_PORT:-8080}"
DC=(docker compose)

log() { printf '[compose-scale] %s\n' "$*" >&2; }
die() { printf '[compose-scale] error: %s\n' "$*" >&2; exit 1; }

# The ids of the api containers, running or not.
api_containers() { "${DC[@]}" ps -q api; }

# health CONTAINER: healthy | starting | unhealthy | none
health() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$1" 2>/dev/null || echo gone; }

# wait_healthy SECONDS CONTAINER...: until every container's health check passes.
wait_healthy() {
    local deadline=$((SECONDS + $1)) c pending
    shift
    while :; do
        pending=0
        for c in "$@"; do
            case "$(health "$c")" in
                healthy) ;;
                unhealthy|gone) die "container ${c:0:12} is $(health "$c"): docker logs ${c:0:12}" ;;
                *) pending=1 ;;
            esac
        done
        [ "$pending" -eq 0 ] && return 0
        [ "$SECONDS" -lt "$deadline" ] || die "api replicas not healthy after $1 s"
        sleep 2
    done
}

# wait_balanced N: until N different instance ids answered /stats/instance through
# nginx (each replica reports api-<container hostname>).
wait_balanced() {
    local want="$1" deadline=$((SECONDS + 60)) seen i id
    while :; do
        seen=""
        for ((i = 0; i < want * 10; i++)); do
            id="$(curl -fsS --max-time 3 "$URL/stats/instance" 2>/dev/null \
                | grep -o '"instance_id":"[^"]*"' || true)"
            [ -n "$id" ] && seen+="$id"$'\n'
        done
        seen="$(printf '%s' "$seen" | sort -u | grep -c . || true)"
        [ "$seen" -ge "$want" ] && { log "nginx answered from $seen replicas"; return 0; }
        [ "$SECONDS" -lt "$deadline" ] || die "nginx answered from $seen of $want replicas after 60 s"
        sleep 2
    done
}

scale() {
    local n="$1"
    [[ "$n" =~ ^[1-9][0-9]?$ ]] || die "usage: $0 N (1 to 99) | --roll"
    log "scaling api to $n"
    "${DC[@]}" up -d --no-deps --no-recreate --scale "api=$n" api
    # shellcheck disable=SC2046
    wait_healthy 180 $(api_containers)
    wait_balanced "$n"
}

roll() {
    local old n c
    mapfile -t old < <(api_containers)
    n="${#old[@]}"
    [ "$n" -gt 0 ] || die "no api replica runs; start the stack first"
    log "starting $n new api replicas next to the $n old ones"
    "${DC[@]}" up -d --no-deps --no-recreate --scale "api=$((2 * n))" api
    local new=()
    for c in $(api_containers); do
        [[ " ${old[*]} " == *" $c "* ]] || new+=("$c")
    done
    wait_healthy 180 "${new[@]}"
    for c in "${old[@]}"; do
        # SIGTERM: readiness 503, listener closed after SHUTDOWN_DRAIN_MS, in-flight
        # requests finish; nginx retries refused connections on another replica and
        # drops the address at its next DNS resolution (5 s).
        log "stopping old replica ${c:0:12}"
        docker stop -t 40 "$c" >/dev/null
        docker rm "$c" >/dev/null
        sleep 5
    done
    wait_balanced "$n"
    log "$n api replicas now run the current image"
}

command -v docker >/dev/null || die "docker is required"
case "${1:-}" in
    --roll) roll ;;
    "" | -h | --help) sed -n '2,13p' "$0"; exit 2 ;;
    *) scale "$1" ;;
esac
