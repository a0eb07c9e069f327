#!/usr/bin/env bash
# Scales or rolls the `api` service of the docker-compose stack without losing a
# request, and checks that nginx really spreads requests over every replica.
#
#   scripts/compose-scale.sh N        run N api replicas (1-99), wait until all are
#                                     healthy and nginx has answered from each of them
#   scripts/compose-scale.sh --roll   replace every api replica by one from the current
#                                     image (build it first: docker compose build api),
#                                     never with fewer healthy replicas than before
#
# Needs Docker Compose v2 (`docker compose`). Compose's own project settings apply
# (COMPOSE_PROJECT_NAME, COMPOSE_FILE), so a second copy of the stack is scaled the
# same way.
#
# Why no request is lost: nginx sends only to replicas that are ready, kept current by
# the watcher in its container (nginx/compose-watch.sh, about once a second, with a
# graceful reload). A new replica is added once ready; a stopping one turns not-ready
# at SIGTERM and keeps serving for SHUTDOWN_DRAIN_MS (5 s under compose), long enough
# to leave nginx's list before it stops listening. This script adds the waiting: it
# returns once nginx's list is exactly the healthy replicas and nginx has answered
# from each. (Plain `docker compose up -d --scale api=N` is just as safe; it only
# does not wait.)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ -z "${NGINX_PORT:-}" ] && [ -f .env ]; then
    # shellcheck disable=SC1091
    NGINX_PORT="$(. ./.env >/dev/null 2>&1; echo "${NGINX_PORT:-}")"
fi
URL="http://127.0.0.1:${NGINX_PORT:-8080}"
DC=(docker compose)

log() { printf '[compose-scale] %s\n' "$*" >&2; }
die() { printf '[compose-scale] error: %s\n' "$*" >&2; exit 1; }

require_compose_v2() {
    command -v docker >/dev/null || die "docker is not installed"
    local version
    version="$(docker compose version --short 2>/dev/null)" \
        || die "Docker Compose v2 is required (\`docker compose\`, the compose plugin); docker-compose v1 cannot run this script"
    [[ "$version" =~ ^v?([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -ge 2 ] \
        || die "Docker Compose v2 is required; \`docker compose version\` says $version"
    docker info >/dev/null 2>&1 || die "the Docker engine does not answer (is dockerd running?)"
}

# The ids of the running containers of SERVICE, oldest replica number first. Fails
# (rather than printing nothing) when compose fails.
running() {
    local ids
    ids="$("${DC[@]}" ps -q "$1")" || die "docker compose ps $1 failed"
    [ -n "$ids" ] || return 0
    # shellcheck disable=SC2086
    docker inspect -f '{{index .Config.Labels "com.docker.compose.container-number"}} {{.Id}}' $ids \
        | sort -n | awk '{print $2}'
}

# health CONTAINER: healthy | starting | unhealthy | none | gone
health() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$1" 2>/dev/null || echo gone; }

# wait_healthy SECONDS CONTAINER...: until every container's health check passes.
wait_healthy() {
    local deadline=$((SECONDS + $1)) c pending state
    shift
    while :; do
        pending=0
        for c in "$@"; do
            state="$(health "$c")"
            case "$state" in
                healthy) ;;
                unhealthy | gone) die "container ${c:0:12} is $state: docker logs ${c:0:12}" ;;
                *) pending=1 ;;
            esac
        done
        [ "$pending" -eq 0 ] && return 0
        [ "$SECONDS" -lt "$deadline" ] || die "api replicas not healthy after $1 s"
        sleep 1
    done
}

# The address of CONTAINER on the compose network.
address() {
    docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$1" | awk '{print $1}'
}

# The addresses in nginx's list of api servers, sorted.
nginx_list() {
    local nginx
    nginx="$(running nginx)"
    [ -n "$nginx" ] || die "nginx does not run (docker compose up -d first)"
    docker exec "$nginx" awk '/^server/ {sub(/:[0-9]+$/, "", $2); print $2}' /etc/nginx/api-upstream.conf | sort
}

# wait_listed CONTAINER...: until nginx's list is exactly these replicas.
wait_listed() {
    local want got c deadline=$((SECONDS + 60))
    want="$(for c in "$@"; do address "$c"; done | sort)"
    while :; do
        got="$(nginx_list)"
        [ "$got" = "$want" ] && { log "nginx sends to $# replicas: $(echo "$got" | tr '\n' ' ')"; return 0; }
        [ "$SECONDS" -lt "$deadline" ] || die "nginx's list is [$(echo "$got" | tr '\n' ' ')], not [$(echo "$want" | tr '\n' ' ')], after 60 s (docker compose logs nginx)"
        sleep 0.5
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
        sleep 1
    done
}

# ready_replicas: the running api replicas, once all are healthy and nginx lists them.
ready_replicas() {
    local ids
    ids="$(running api)"
    [ -n "$ids" ] || die "no api replica runs; start the stack first (docker compose up -d)"
    # shellcheck disable=SC2086
    wait_healthy 180 $ids
    # shellcheck disable=SC2086
    wait_listed $ids
    echo "$ids"
}

scale() {
    local n="$1" have
    have="$(ready_replicas | grep -c .)"
    log "scaling api from $have to $n"
    # Scaling down, compose stops the surplus replicas (SIGTERM: each drains while
    # nginx drops it) and removes them.
    "${DC[@]}" up -d --no-deps --no-recreate --scale "api=$n" api
    have="$(running api | grep -c .)"
    [ "$have" -eq "$n" ] || die "expected $n api replicas, found $have"
    ready_replicas >/dev/null
    wait_balanced "$n"
}

roll() {
    local old n new=() c
    old="$(ready_replicas)"
    n="$(echo "$old" | grep -c .)"
    log "starting $n new api replicas next to the $n old ones"
    "${DC[@]}" up -d --no-deps --no-recreate --scale "api=$((2 * n))" api
    for c in $(running api); do
        [[ $'\n'"$old"$'\n' == *$'\n'"$c"$'\n'* ]] || new+=("$c")
    done
    [ "${#new[@]}" -eq "$n" ] || die "expected $n new replicas, found ${#new[@]}"
    wait_healthy 180 "${new[@]}"
    # shellcheck disable=SC2086
    wait_listed $old "${new[@]}"
    log "stopping the $n old replicas (each drains while nginx drops it)"
    # shellcheck disable=SC2086
    docker stop -t 40 $old >/dev/null
    # shellcheck disable=SC2086
    docker rm $old >/dev/null
    wait_listed "${new[@]}"
    wait_balanced "$n"
    log "$n api replicas now run image $(docker inspect -f '{{.Image}}' "${new[0]}" | cut -c8-19)"
}

case "${1:-}" in
    "" | -h | --help) sed -n '2,22p' "$0"; exit 2 ;;
    --roll) ;;
    *) [[ "$1" =~ ^[1-9][0-9]?$ ]] || die "usage: $0 N (1 to 99) | --roll" ;;
esac
require_compose_v2
case "$1" in
    --roll) roll ;;
    *) scale "$1" ;;
esac
