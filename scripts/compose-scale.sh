#!/usr/bin/env bash
# Scales or rolls the `api` service of the docker-compose stack without losing a
# request, and checks that nginx really spreads requests over every replica.
#
#   scripts/compose-scale.sh N        run N api replicas (1-99), wait until all are
#                                     healthy and nginx has answered from each of them
#   scripts/compose-scale.sh --roll   replace every api replica by one from the current
#                                     image (build it first: docker compose build api),
#                                     never with fewer healthy replicas than before
#   scripts/compose-scale.sh --publish
#                                     point nginx at the healthy replicas that run now
#
# Needs Docker Compose v2 (`docker compose`). Compose's own project settings apply
# (COMPOSE_PROJECT_NAME, COMPOSE_FILE), so a second copy of the stack is scaled the
# same way.
#
# How no request is lost: nginx is given an explicit list of replica addresses
# (/etc/nginx/api-upstream.conf in its container) and reloaded gracefully each time it
# changes. A new replica joins the list only once its health check passes. A replica
# leaves the list before it is stopped, and is stopped only after every nginx worker
# that could still send it a request has finished; its own shutdown (readiness 503,
# in-flight requests finish) then meets no traffic. nginx's default of re-resolving
# `api` through Docker's DNS cannot do that: DNS lists a container from its start
# (before it listens) to its stop (after it stopped answering).
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

# The pids of nginx's worker processes (inside its container).
nginx_workers() {
    docker exec "$1" sh -c 'for p in /proc/[0-9]*; do
        case "$(tr "\0" " " < "$p/cmdline" 2>/dev/null)" in *"worker process"*) echo "${p#/proc/}" ;; esac
    done'
}

# publish CONTAINER...: nginx sends requests to these replicas and no others, from
# the moment this returns: the new list is reloaded and every worker of the old one
# has finished its requests and exited.
publish() {
    [ "$#" -gt 0 ] || die "refusing to give nginx an empty list of replicas"
    local nginx conf="" c ip old pid deadline
    nginx="$(running nginx)"
    [ -n "$nginx" ] || die "nginx does not run (docker compose up -d first)"
    for c in "$@"; do
        ip="$(address "$c")"
        [ -n "$ip" ] || die "replica ${c:0:12} has no address"
        conf+="server $ip:5000 max_fails=3 fail_timeout=5s;  # $(docker inspect -f '{{.Name}}' "$c")"$'\n'
    done
    old="$(nginx_workers "$nginx")"
    # Inside the nginx container: swap the list in, test, reload; put the old list
    # back if nginx refuses the new one.
    printf '# Written by scripts/compose-scale.sh.\n%s' "$conf" \
        | docker exec -i "$nginx" sh -c 'set -e; cd /etc/nginx
            cp api-upstream.conf api-upstream.conf.prev
            cat > api-upstream.conf.new && mv api-upstream.conf.new api-upstream.conf
            if ! nginx -t -q; then mv api-upstream.conf.prev api-upstream.conf; exit 1; fi
            out="$(nginx -s reload 2>&1)" || { echo "$out" >&2; exit 1; }' \
        || die "nginx refused the new list of replicas"
    deadline=$((SECONDS + 30))
    for pid in $old; do
        while docker exec "$nginx" test -d "/proc/$pid"; do
            [ "$SECONDS" -lt "$deadline" ] || die "nginx worker $pid still runs 30 s after the reload"
            sleep 0.2
        done
    done
    log "nginx sends to $# replicas: $(printf '%s' "$conf" | awk '{print $2}' | tr '\n' ' ')"
}

# retire CONTAINER...: stop and remove replicas that nginx no longer sends to.
retire() {
    [ "$#" -gt 0 ] || return 0
    log "stopping ${#} replica(s): $(for c in "$@"; do printf '%s ' "${c:0:12}"; done)"
    # SIGTERM: readiness 503 for SHUTDOWN_DRAIN_MS, then in-flight requests finish;
    # compose's stop_grace_period (40 s) before a SIGKILL.
    docker stop -t 40 "$@" >/dev/null
    docker rm "$@" >/dev/null
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

# The running api replicas, all healthy, and nginx pointed at exactly them.
current() {
    local ids
    ids="$(running api)"
    [ -n "$ids" ] || die "no api replica runs; start the stack first (docker compose up -d)"
    # shellcheck disable=SC2086
    wait_healthy 180 $ids
    # shellcheck disable=SC2086
    publish $ids
    echo "$ids"
}

scale() {
    local n="$1" before have new=() c
    [[ "$n" =~ ^[1-9][0-9]?$ ]] || die "usage: $0 N (1 to 99) | --roll | --publish"
    before="$(current)"
    have="$(echo "$before" | grep -c .)"
    if [ "$n" -gt "$have" ]; then
        log "scaling api from $have to $n"
        "${DC[@]}" up -d --no-deps --no-recreate --scale "api=$n" api
        for c in $(running api); do
            [[ $'\n'"$before"$'\n' == *$'\n'"$c"$'\n'* ]] || new+=("$c")
        done
        [ "${#new[@]}" -eq $((n - have)) ] || die "expected $((n - have)) new replicas, found ${#new[@]}"
        wait_healthy 180 "${new[@]}"
        # shellcheck disable=SC2086
        publish $before "${new[@]}"
    elif [ "$n" -lt "$have" ]; then
        log "scaling api from $have to $n"
        local keep victims
        keep="$(echo "$before" | head -n "$n")"
        victims="$(echo "$before" | tail -n +"$((n + 1))")"
        # shellcheck disable=SC2086
        publish $keep
        # shellcheck disable=SC2086
        retire $victims
    fi
    wait_balanced "$n"
}

roll() {
    local old n new=() c
    old="$(current)"
    n="$(echo "$old" | grep -c .)"
    log "starting $n new api replicas next to the $n old ones"
    "${DC[@]}" up -d --no-deps --no-recreate --scale "api=$((2 * n))" api
    for c in $(running api); do
        [[ $'\n'"$old"$'\n' == *$'\n'"$c"$'\n'* ]] || new+=("$c")
    done
    [ "${#new[@]}" -eq "$n" ] || die "expected $n new replicas, found ${#new[@]}"
    wait_healthy 180 "${new[@]}"
    publish "${new[@]}"
    # shellcheck disable=SC2086
    retire $old
    wait_balanced "$n"
    log "$n api replicas now run image $(docker inspect -f '{{.Image}}' "${new[0]}" | cut -c8-19)"
}

case "${1:-}" in
    "" | -h | --help) sed -n '2,24p' "$0"; exit 2 ;;
esac
require_compose_v2
case "$1" in
    --roll) roll ;;
    --publish) current >/dev/null ;;
    *) scale "$1" ;;
esac
