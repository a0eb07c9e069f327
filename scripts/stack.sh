#!/usr/bin/env bash
# The whole shop on one machine, without Docker.
#
#   scripts/stack.sh up       install what is missing, build, start everything, wait
#   scripts/stack.sh down     stop exactly what `up` started (by pid)
#   scripts/stack.sh status   what runs
#   scripts/stack.sh scale N  run N API instances (starts or drains the difference)
#   scripts/stack.sh rolling-restart
#                             restart every API instance, one at a time, without
#                             dropping a request: out of nginx, drain, restart,
#                             ready, back in
#
# Log files over SHOP_LOG_MAX_MB (100) are rotated to NAME.log.1 at `up` and every
# SHOP_LOG_CHECK_SECONDS (30) by the `log-rotator` process (rotate_logs, lib.sh).
#
# PostgreSQL and Redis are used if they already answer on their usual ports, and
# installed (apt) and started otherwise. SHOP_FRESH_DATA=1 empties the database and
# the Redis database that .env names before anything starts (CI does this for its
# own). Everything else runs from this repository:
# tansu (Kafka protocol, durable sqlite storage), MailDev, 4 API instances, both
# consumers and nginx. Logs and pids are under .stack/.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TANSU_VERSION="${TANSU_VERSION:-}"   # empty: the version crates.io resolves, --locked

ensure_tools() {
    command -v curl >/dev/null || apt_install curl ca-certificates
    command -v cargo >/dev/null || die "cargo is required (rustup)"
    command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { log "installing nginx"; apt_install nginx-light; }
    command -v node >/dev/null || { log "installing node"; apt_install nodejs npm; }
    command -v pg_isready >/dev/null || apt_install postgresql-client
    command -v redis-cli >/dev/null || apt_install redis-tools
}

ensure_postgres() {
    if ! pg_isready -q -h 127.0.0.1 -p 5432; then
        if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
            log "installing PostgreSQL"
            apt_install postgresql
        fi
        log "starting PostgreSQL"
        as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
        wait_until 60 "PostgreSQL" pg_isready -h 127.0.0.1 -p 5432
    fi
    # Role and database from DATABASE_URL (postgres://user:password@host:port/db).
    local rest user pass db
    rest="${DATABASE_URL#*://}"
    user="${rest%%:*}"; rest="${rest#*:}"
    pass="${rest%%@*}"; rest="${rest#*@}"
    db="${rest#*/}"; db="${db%%\?*}"
    [[ "$user" =~ ^[a-z_][a-z0-9_]*$ && "$db" =~ ^[a-z_][a-z0-9_]*$ && "$pass" =~ ^[A-Za-z0-9_-]+$ ]] \
        || die "DATABASE_URL must look like postgres://user:password@host:port/db with simple names"
    # From /: the postgres user may not be allowed into the checkout's directory.
    local psql=(runuser -u postgres -- env -C / psql -q -v ON_ERROR_STOP=1 -d postgres)
    [ "$(id -u)" -eq 0 ] || psql=(psql -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d postgres)
    "${psql[@]}" -c "DO \$\$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$user') THEN
            CREATE ROLE $user LOGIN PASSWORD '$pass';
        ELSE
            ALTER ROLE $user LOGIN PASSWORD '$pass';
        END IF; END \$\$;" >/dev/null
    if [ "${SHOP_FRESH_DATA:-}" = 1 ]; then
        log "SHOP_FRESH_DATA=1: dropping database $db"
        "${psql[@]}" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
    fi
    if [ -z "$("${psql[@]}" -Atc "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
        "${psql[@]}" -c "CREATE DATABASE $db OWNER $user" >/dev/null
        log "created database $db"
    fi
}

ensure_redis() {
    start_redis
    if [ "${SHOP_FRESH_DATA:-}" = 1 ]; then
        log "SHOP_FRESH_DATA=1: emptying Redis database ${REDIS_URL##*/}"
        redis-cli -u "$REDIS_URL" FLUSHDB >/dev/null
    fi
}

start_redis() {
    if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then return 0; fi
    command -v redis-server >/dev/null || { log "installing Redis"; apt_install redis-server; }
    log "starting Redis"
    as_root mkdir -p /var/lib/redis /var/log/redis
    as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/shop.log
    wait_until 30 "Redis" redis-cli -h 127.0.0.1 -p 6379 ping
}

tansu_bin() {
    if command -v tansu >/dev/null; then command -v tansu; return; fi
    if [ -x "$HOME/.cargo/bin/tansu" ]; then echo "$HOME/.cargo/bin/tansu"; return; fi
    return 1
}

ensure_tansu() {
    if ! tansu_bin >/dev/null; then
        log "building the tansu broker once (about 10 minutes on 2 cores)"
        apt_install pkg-config libssl-dev >/dev/null 2>&1 || true
        cargo install tansu --locked --features libsql ${TANSU_VERSION:+--version "$TANSU_VERSION"}
    fi
    mkdir -p "$DATA/tansu"
    claim_port tansu "$KAFKA_PORT"
    # tansu resolves a sqlite path against its working directory.
    # RUST_LOG=warn: at info, tansu writes gigabytes of trace lines per hour.
    RUST_LOG=warn start_process tansu bash -c "cd '$DATA/tansu' && exec '$(tansu_bin)' broker \
        --listener-url tcp://127.0.0.1:$KAFKA_PORT \
        --advertised-listener-url tcp://127.0.0.1:$KAFKA_PORT \
        --storage-engine sqlite://tansu.db"
    wait_until 60 "the Kafka broker on :$KAFKA_PORT" alive_and_listening tansu "$KAFKA_PORT"
}

# The broker must do what the pipeline does, not just listen: `api kafka-probe`
# produces a canary and consumes it back. A broker that listens but fails that (tansu
# stays up after its storage task panicked, closing every connection) is restarted;
# if a restart does not bring it back, its data is moved aside (kept, not deleted) and
# it starts empty.
repair_broker_if_broken() {
    local probe=("$BIN/api" kafka-probe)
    if "${probe[@]}" >>"$LOGS/kafka-probe.log" 2>&1; then return 0; fi
    log "the Kafka broker listens but fails the produce/consume probe; restarting it"
    stop_process tansu
    ensure_tansu
    if "${probe[@]}" >>"$LOGS/kafka-probe.log" 2>&1; then return 0; fi
    local aside
    aside="$DATA/tansu.broken-$(date +%Y%m%d-%H%M%S)"
    log "still broken after a restart; moving its data to $aside and starting it empty"
    stop_process tansu
    mv "$DATA/tansu" "$aside"
    BROKER_STARTED_EMPTY=1
    stop_consumers_before_an_empty_broker
    ensure_tansu
    "${probe[@]}" >>"$LOGS/kafka-probe.log" 2>&1 || die "the Kafka broker fails the probe even with fresh data (see $LOGS/kafka-probe.log and $LOGS/tansu.log)"
}

# Consumers that ran against a broker whose data is gone hold read positions in logs
# that no longer exist, and would commit them into the new, empty broker: their
# group would then resume past the start of the new logs and skip what lands there
# below those positions (the republished events, and the first new ones). They are
# stopped before the empty broker starts (their last commit cannot reach it), and
# start again after the republish with no committed offsets, so they read every
# partition from its beginning; what they had handled they skip (processed_events).
stop_consumers_before_an_empty_broker() {
    local name
    for name in email-consumer inventory-consumer; do
        if pid_alive "$name"; then
            log "the broker starts empty: stopping $name (its read positions belong to the lost logs)"
            stop_process "$name" 10
        fi
    done
}

# A broker that started with no data (repaired above, or its data deleted by hand)
# holds none of the events it had: every event of the outbox's retention window is
# published again, after the topics exist. The consumers skip what they had handled
# (processed_events) and handle the rest once. On a first start the outbox is empty.
republish_if_broker_started_empty() {
    [ "${BROKER_STARTED_EMPTY:-}" = 1 ] || return 0
    local republished
    # The count is the command's last line (its log lines come before it).
    republished="$("$BIN/api" republish "${RETENTION_OUTBOX_DAYS:-7}d" 2>>"$LOGS/kafka-probe.log")" \
        || die "republishing the outbox failed (see $LOGS/kafka-probe.log)"
    republished="${republished##*$'\n'}"
    log "the broker started empty: republished $republished events of the last ${RETENTION_OUTBOX_DAYS:-7} days"
}

ensure_maildev() {
    local bin="$RUNTIME/tools/node_modules/.bin/maildev"
    if [ ! -x "$bin" ]; then
        log "installing MailDev"
        mkdir -p "$RUNTIME/tools"
        npm install --prefix "$RUNTIME/tools" --no-audit --no-fund --loglevel=error maildev@2 >/dev/null
    fi
    claim_port maildev "$MAILDEV_SMTP_PORT"
    claim_port maildev "$MAILDEV_WEB_PORT"
    start_process maildev "$bin" --ip 127.0.0.1 --smtp "$MAILDEV_SMTP_PORT" --web "$MAILDEV_WEB_PORT"
    wait_until 60 "MailDev" http_ok "http://127.0.0.1:$MAILDEV_WEB_PORT/email"
}

build() {
    if [ "${SHOP_SKIP_BUILD:-}" = 1 ] && [ -x "$BIN/api" ] && [ -x "$BIN/email-consumer" ] \
        && [ -x "$BIN/inventory-consumer" ]; then
        log "using the binaries already built (SHOP_SKIP_BUILD=1)"
        return 0
    fi
    log "building release binaries"
    # Bins and tests: the same feature set as `cargo test`, so the tests reuse this build
    # (--all-targets would also build benchmark variants of every library).
    (cd "$REPO" && cargo build --release --workspace --bins --tests)
}

prepare() {
    log "applying migrations"
    "$BIN/api" migrate >>"$LOGS/migrate.log" 2>&1 || { tail -5 "$LOGS/migrate.log"; die "migrations failed"; }
    "$BIN/api" create-admin >>"$LOGS/migrate.log" 2>&1 || { tail -5 "$LOGS/migrate.log"; die "create-admin failed"; }
    log "creating Kafka topics"
    "$BIN/api" create-topics >>"$LOGS/topics.log" 2>&1 || { tail -5 "$LOGS/topics.log"; die "topic creation failed"; }
}

# The number of API instances: API_INSTANCES at `up`, then whatever `scale` set.
instance_count() { cat "$RUNTIME/api-instances" 2>/dev/null || echo "$API_INSTANCES"; }

instance_ports() {
    local i n
    n="$(instance_count)"
    for ((i = 0; i < n; i++)); do echo $((API_BASE_PORT + i)); done
}

# Instances running on a port outside the current set (left by a larger `scale`).
stop_surplus_instances() {
    local f name port
    for f in "$PIDS"/api-*.pid; do
        [ -e "$f" ] || continue
        name="$(basename "$f" .pid)"
        port="${name#api-}"
        # Numbers, not `instance_ports | grep -q`: under pipefail an early grep exit
        # kills the writer with SIGPIPE and would count a kept port as surplus.
        if ! [[ "$port" =~ ^[0-9]+$ ]] || ((port < API_BASE_PORT || port >= API_BASE_PORT + $(instance_count))); then
            stop_process "$name"
        fi
    done
}

# Async worker threads per instance: the machine's cores shared out over the
# instances (at least 1), unless API_WORKER_THREADS says. Four instances of two
# threads each on two cores spent their time switching between each other: the
# cached listing through nginx ran 0.38x the bare nginx reference; with one thread
# each, 0.52x (README, Benchmarks).
api_worker_threads() {
    if [ -n "${API_WORKER_THREADS:-}" ]; then echo "$API_WORKER_THREADS"; return; fi
    local threads=$(( $(nproc) / $(instance_count) ))
    echo $(( threads > 0 ? threads : 1 ))
}

start_instance() {
    local port="$1"
    claim_port "api-$port" "$port"
    PORT="$port" INSTANCE_ID="api-$port" TOKIO_WORKER_THREADS="$(api_worker_threads)" \
        start_process "api-$port" "$BIN/api" serve
}

wait_instance_ready() {
    wait_until 60 "api-$1 to be ready" http_ok "http://127.0.0.1:$1/health/ready"
}

# Stops NAME if it runs a binary older than the one just built, so `up` after a
# change runs the new code.
stop_if_stale() {
    local name="$1" bin="$2"
    if pid_alive "$name" && [ "$bin" -nt "$PIDS/$name.pid" ]; then
        log "$name runs an older build; restarting it"
        stop_process "$name"
    fi
}

start_api() {
    local port
    echo "$API_INSTANCES" > "$RUNTIME/api-instances"
    for port in $(instance_ports); do
        stop_if_stale "api-$port" "$BIN/api"
    done
    for port in $(instance_ports); do
        start_instance "$port"
    done
    for port in $(instance_ports); do
        wait_instance_ready "$port"
    done
}

start_consumers() {
    stop_if_stale email-consumer "$BIN/email-consumer"
    stop_if_stale inventory-consumer "$BIN/inventory-consumer"
    claim_port email-consumer "$EMAIL_CONSUMER_HEALTH_PORT"
    claim_port inventory-consumer "$INVENTORY_CONSUMER_HEALTH_PORT"
    start_process email-consumer "$BIN/email-consumer"
    start_process inventory-consumer "$BIN/inventory-consumer"
    wait_until 90 "the email consumer to join its group" http_ok "http://127.0.0.1:$EMAIL_CONSUMER_HEALTH_PORT/health/ready"
    wait_until 90 "the inventory consumer to join its group" http_ok "http://127.0.0.1:$INVENTORY_CONSUMER_HEALTH_PORT/health/ready"
}

# Writes the native nginx config for the current instances, except EXCLUDED_PORT
# (an instance being restarted).
write_nginx_conf() {
    local excluded="${1:-}"
    mkdir -p "$RUNTIME/nginx" "$LOGS"
    local servers="" port
    for port in $(instance_ports); do
        [ "$port" = "$excluded" ] && continue
        servers+="        server 127.0.0.1:$port max_fails=3 fail_timeout=5s;"$'\n'
    done
    # Request bodies and large responses spill to temp files written by the workers,
    # which run as `nobody` when the stack runs as root. A checkout may sit under a
    # private directory (/root/...) that `nobody` cannot enter, so the temp files live
    # under /tmp, one directory per checkout.
    local tmp
    tmp="${TMPDIR:-/tmp}/shop-nginx-$(id -u)-$(printf '%s' "$REPO" | cksum | cut -d' ' -f1)"
    mkdir -p "$tmp"
    chmod 700 "$tmp"
    [ "$(id -u)" -ne 0 ] || chown nobody "$tmp"
    local conf
    conf="$(cat "$REPO/nginx/native.conf.template")"
    conf="${conf//@NGINX_TMP@/$tmp}"
    conf="${conf//@RUNTIME@/$RUNTIME}"
    conf="${conf//@REPO@/$REPO}"
    conf="${conf//@NGINX_PORT@/$NGINX_PORT}"
    conf="${conf//@UPSTREAM_SERVERS@/${servers%$'\n'}}"
    printf '%s\n' "$conf" > "$RUNTIME/nginx/nginx.conf"
}

nginx_bin() { command -v nginx || echo /usr/sbin/nginx; }

# The pids whose parent is $1 (from /proc: no procps needed).
children_of() {
    local f
    for f in /proc/[0-9]*/status; do
        [ "$(awk '/^PPid:/ {print $2; exit}' "$f" 2>/dev/null)" = "$1" ] && basename "$(dirname "$f")"
    done
    return 0
}

nginx_running() {
    [ -f "$RUNTIME/nginx/nginx.pid" ] && kill -0 "$(cat "$RUNTIME/nginx/nginx.pid")" 2>/dev/null
}

# reload_nginx [EXCLUDED_PORT]: points nginx at the current instances and returns once
# every old worker has exited, so no request can reach a removed instance afterwards.
# Old workers finish their in-flight requests first; nothing is dropped.
reload_nginx() {
    nginx_running || die "nginx is not running; run scripts/stack.sh up"
    write_nginx_conf "${1:-}"
    "$(nginx_bin)" -t -q -c "$RUNTIME/nginx/nginx.conf" -p "$RUNTIME/nginx" 2>>"$LOGS/nginx-error.log" \
        || die "invalid nginx config (see $LOGS/nginx-error.log)"
    local master old
    master="$(cat "$RUNTIME/nginx/nginx.pid")"
    old="$(children_of "$master")"
    kill -HUP "$master"
    local deadline=$((SECONDS + 30)) pid alive
    while :; do
        alive=0
        for pid in $old; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" -eq 0 ] && break
        [ "$SECONDS" -lt "$deadline" ] || die "old nginx workers did not exit within 30 s"
        sleep 0.1
    done
}

start_nginx() {
    if nginx_running; then
        reload_nginx
        log "nginx reloaded"
    else
        claim_port nginx "$NGINX_PORT"
        write_nginx_conf
        "$(nginx_bin)" -t -q -c "$RUNTIME/nginx/nginx.conf" -p "$RUNTIME/nginx" 2>>"$LOGS/nginx-error.log" \
            || die "invalid nginx config (see $LOGS/nginx-error.log)"
        # Detached from our stdout, or a caller piping this script would wait forever.
        "$(nginx_bin)" -c "$RUNTIME/nginx/nginx.conf" -p "$RUNTIME/nginx" \
            </dev/null >>"$LOGS/nginx-error.log" 2>&1 4>&-
        log "started nginx on :$NGINX_PORT"
    fi
    cp "$RUNTIME/nginx/nginx.pid" "$PIDS/nginx.pid"
    wait_until 30 "nginx" http_ok "http://127.0.0.1:$NGINX_PORT/health/ready"
}

# The background half of the log cap: rotate_logs every SHOP_LOG_CHECK_SECONDS, as
# the `log-rotator` process (stopped by `down` like every other).
start_log_rotator() {
    local every="${SHOP_LOG_CHECK_SECONDS:-30}"
    [[ "$every" =~ ^[1-9][0-9]*$ ]] || die "SHOP_LOG_CHECK_SECONDS must be a whole number of seconds (got '$every')"
    rotate_logs
    start_process log-rotator "$REPO/scripts/stack.sh" rotate-logs-every "$every"
}

rotate_logs_every() {
    local every="$1"
    while :; do
        rotate_logs
        sleep "$every"
    done
}

up() {
    load_env
    mkdir -p "$LOGS" "$PIDS" "$DATA"
    start_log_rotator
    ensure_tools
    ensure_postgres
    ensure_redis
    # No broker running and no broker data: whatever it held is gone.
    if ! pid_alive tansu && [ ! -s "$DATA/tansu/tansu.db" ]; then
        BROKER_STARTED_EMPTY=1
        stop_consumers_before_an_empty_broker
    fi
    ensure_tansu
    ensure_maildev
    build
    repair_broker_if_broken
    prepare
    republish_if_broker_started_empty
    start_api
    start_consumers
    start_nginx
    # Instances left by a larger `scale`: out of nginx now, so drain and stop them.
    stop_surplus_instances
    cat <<INFO

  The shop is up.
    API (nginx)     http://127.0.0.1:$NGINX_PORT
    Swagger UI      http://127.0.0.1:$NGINX_PORT/docs/
    OpenAPI         http://127.0.0.1:$NGINX_PORT/openapi.json
    Instances       $(for p in $(instance_ports); do printf 'http://127.0.0.1:%s ' "$p"; done)
    Mail catcher    http://127.0.0.1:$MAILDEV_WEB_PORT  (SMTP :$MAILDEV_SMTP_PORT)
    Kafka (tansu)   127.0.0.1:$KAFKA_PORT
    Logs            $LOGS
    Pids            $PIDS
  Stop it with: scripts/stack.sh down

INFO
}

# scale N: starts the missing instances and waits until they are ready before nginx
# sends them anything; drops surplus ones from nginx first, then drains them.
scale() {
    load_env
    local target="${1:-}"
    [[ "$target" =~ ^[1-9][0-9]?$ ]] || die "usage: scripts/stack.sh scale N (1 to 99 instances)"
    [ -x "$BIN/api" ] || die "no API binary; run scripts/stack.sh up first"
    local current port
    current="$(instance_count)"
    echo "$target" > "$RUNTIME/api-instances"
    if [ "$target" -gt "$current" ]; then
        for port in $(instance_ports); do start_instance "$port"; done
        for port in $(instance_ports); do wait_instance_ready "$port"; done
        reload_nginx
    else
        reload_nginx
        stop_surplus_instances
    fi
    log "$target API instance(s) behind nginx: $(instance_ports | tr '\n' ' ')"
}

# rolling-restart: one instance at a time, out of nginx, drained by its graceful
# shutdown (readiness 503, in-flight requests finish), started again (a new binary if
# one was built), ready, back in.
rolling_restart() {
    load_env
    [ -x "$BIN/api" ] || die "no API binary; run scripts/stack.sh up first"
    [ "$(instance_count)" -ge 2 ] || die "a rolling restart needs at least 2 instances (scripts/stack.sh scale 2)"
    local port
    # Whatever happens, nginx ends up pointing at every instance again.
    trap 'reload_nginx || true' EXIT
    for port in $(instance_ports); do
        reload_nginx "$port"
        stop_process "api-$port"
        start_instance "$port"
        wait_instance_ready "$port"
        reload_nginx
        log "api-$port restarted"
    done
    trap - EXIT
}

down() {
    load_env
    local name
    if [ -f "$PIDS/nginx.pid" ]; then
        kill -QUIT "$(cat "$PIDS/nginx.pid")" 2>/dev/null || true
        rm -f "$PIDS/nginx.pid"
        log "stopped nginx"
    fi
    for f in "$PIDS"/*.pid; do
        [ -e "$f" ] || continue
        name="$(basename "$f" .pid)"
        case "$name" in tansu|maildev) continue ;; esac
        stop_process "$name"
    done
    stop_process maildev
    stop_process tansu
}

status() {
    load_env
    local f name any=0
    for f in "$PIDS"/*.pid; do
        [ -e "$f" ] || continue
        any=1
        name="$(basename "$f" .pid)"
        if kill -0 "$(cat "$f")" 2>/dev/null; then
            printf '  %-20s running (pid %s)\n' "$name" "$(cat "$f")"
        else
            printf '  %-20s DEAD (stale pid %s)\n' "$name" "$(cat "$f")"
        fi
    done
    [ "$any" -eq 1 ] || echo "  nothing started by this stack"
    pg_isready -q -h 127.0.0.1 -p 5432 && echo "  postgresql           up (:5432)" || echo "  postgresql           DOWN"
    redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && echo "  redis                up (:6379)" || echo "  redis                DOWN"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    scale) scale "${2:-}" ;;
    rolling-restart) rolling_restart ;;
    # Internal: the log-rotator process that `up` starts.
    rotate-logs-every) rotate_logs_every "${2:-30}" ;;
    *) echo "usage: $0 up|down|status|scale N|rolling-restart" >&2; exit 2 ;;
esac
