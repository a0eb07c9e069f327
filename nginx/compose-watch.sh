#!/bin/sh
# The nginx container's command under docker-compose: nginx, plus a watcher that keeps
# the `api` servers (/etc/nginx/api-upstream.conf, included by compose.conf) equal to
# the replicas that are ready, as a load balancer with health checks would.
#
# Every WATCH_INTERVAL seconds (1) it asks Docker's DNS for every `api` replica and
# each replica for /health/ready. When the ready set changes it writes the new list
# and reloads nginx gracefully (old workers finish their requests). So:
# - a new replica gets traffic only once it is ready, never while it is still starting;
# - a replica that is being stopped (SIGTERM) turns not-ready at once and keeps serving
#   for SHUTDOWN_DRAIN_MS (5 s under compose), so it leaves the list within about a
#   second, before it stops listening;
# - a replica that died leaves the list within about a second.
# Whatever scales the service (`docker compose up --scale`, scripts/compose-scale.sh,
# `docker compose stop`), nginx follows. If no replica is ready (PostgreSQL or Redis
# down), the last list stays: nginx keeps sending to the replicas, which answer 503
# themselves, rather than having nobody to send to.
#
# POSIX sh and what the nginx image has: getent, curl, awk, sort.
set -u
LIST=/etc/nginx/api-upstream.conf
SERVICE="${WATCH_SERVICE:-api}"
PORT="${WATCH_PORT:-5000}"
INTERVAL="${WATCH_INTERVAL:-1}"

# The ready replicas' upstream lines, sorted; empty if none is ready.
ready_servers() {
    for ip in $(getent ahostsv4 "$SERVICE" | awk '{print $1}' | sort -u); do
        if curl -fsS -o /dev/null --connect-timeout 1 --max-time 2 "http://$ip:$PORT/health/ready"; then
            echo "server $ip:$PORT max_fails=3 fail_timeout=5s;"
        fi
    done
}

# publish LINES: write them as the list; reload nginx if it runs. The previous list
# comes back if nginx refuses the new one.
publish() {
    cp "$LIST" "$LIST.prev" 2>/dev/null || true
    printf '# Written by nginx/compose-watch.sh: the ready %s replicas.\n%s\n' "$SERVICE" "$1" > "$LIST.new"
    mv "$LIST.new" "$LIST"
    if ! nginx -t -q; then
        echo "compose-watch: nginx refused the list; keeping the previous one" >&2
        mv "$LIST.prev" "$LIST" 2>/dev/null || true
        return 1
    fi
    if [ "${2:-}" = reload ]; then
        nginx -s reload 2>/dev/null || echo "compose-watch: nginx -s reload failed" >&2
        echo "compose-watch: nginx sends to $(printf '%s\n' "$1" | grep -c server) $SERVICE replicas: $(printf '%s\n' "$1" | awk '{printf "%s ", $2}')" >&2
    fi
}

watch() {
    current="$1"
    while :; do
        sleep "$INTERVAL"
        servers="$(ready_servers)"
        if [ -n "$servers" ] && [ "$servers" != "$current" ]; then
            publish "$servers" reload && current="$servers"
        fi
    done
}

# Start: the ready replicas, or every replica DNS knows (re-resolved) if none is ready
# yet; compose starts nginx only once the api service is healthy.
servers="$(ready_servers)"
if [ -z "$servers" ]; then
    servers="server $SERVICE:$PORT resolve max_fails=3 fail_timeout=5s;"
fi
publish "$servers"
watch "$servers" &
exec nginx -g 'daemon off;'
