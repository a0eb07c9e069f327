# Shared helpers of the stack scripts. Sourced, not run.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNTIME="$REPO/.stack"
LOGS="$RUNTIME/logs"
PIDS="$RUNTIME/pids"
DATA="$RUNTIME/data"
BIN="$REPO/target/release"
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\033[1m[stack]\033[0m %s\n' "$*" >&2; }
# fd 4 stays the real stderr, even inside redirected wait conditions.
exec 4>&2
die() { printf '\033[31m[stack] error:\033[0m %s\n' "$*" >&4; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=0
apt_install() {
    if [ "$APT_UPDATED" -eq 0 ]; then
        as_root apt-get update -qq
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# env_with_secrets DEST: .env.example written to DEST (mode 600) with a fresh random
# value for every `change-me`.
env_with_secrets() {
    local line out=""
    while IFS= read -r line || [ -n "$line" ]; do
        while [[ "$line" == *change-me* ]]; do
            line="${line/change-me/$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
        done
        out+="$line"$'\n'
    done < "$REPO/.env.example"
    (umask 077 && printf '%s' "$out" > "$1")
}

# tools_venv: the Python virtualenv the test tools (schemathesis, kubernetes-validate)
# are installed into, made on first use.
tools_venv() {
    if [ ! -x "$RUNTIME/venv/bin/pip" ]; then
        # Debian's python3 ships without venv (and ensurepip) until python3-venv is in.
        python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3 python3-venv
        python3 -m venv "$RUNTIME/venv"
    fi
}

# Creates .env from .env.example on first use, with a fresh random value for every
# `change-me`, then exports every variable of .env.
load_env() {
    if [ ! -f "$REPO/.env" ]; then
        log "creating .env from .env.example with generated secrets"
        env_with_secrets "$REPO/.env"
    fi
    set -a
    # shellcheck disable=SC1091
    . "$REPO/.env"
    set +a
    API_INSTANCES="${API_INSTANCES:-4}"
    API_BASE_PORT="${API_BASE_PORT:-5000}"
    NGINX_PORT="${NGINX_PORT:-8080}"
    KAFKA_PORT="${KAFKA_PORT:-9092}"
    MAILDEV_SMTP_PORT="${MAILDEV_SMTP_PORT:-1025}"
    MAILDEV_WEB_PORT="${MAILDEV_WEB_PORT:-1080}"
}

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds.
wait_until() {
    local timeout="$1" what="$2"; shift 2
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            die "timed out after ${timeout}s waiting for $what"
        fi
        sleep 0.3
    done
}

http_ok() { curl -fsS -o /dev/null --max-time 3 "$1"; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# alive_and_listening NAME PORT: fails the whole script at once if NAME died.
alive_and_listening() {
    if ! pid_alive "$1"; then
        tail -n 20 "$LOGS/$1.log" >&4 || true
        die "$1 exited (log: $LOGS/$1.log)"
    fi
    port_open "$2"
}

# process_running PID: it exists and has not ended. An ended process nobody has reaped
# yet (a zombie) has ended; a process whose main thread returned while its other
# threads still shut down also shows as a zombie, and is still running.
process_running() {
    local pid="$1" state
    kill -0 "$pid" 2>/dev/null || return 1
    state="$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)"
    [ "$state" != Z ] && return 0
    [ "$(find "/proc/$pid/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)" -gt 1 ]
}

pid_alive() { [ -f "$PIDS/$1.pid" ] && process_running "$(cat "$PIDS/$1.pid")"; }

# start_process NAME COMMAND...: runs COMMAND in the background, logging to
# $LOGS/NAME.log, its pid in $PIDS/NAME.pid. A running NAME is left alone.
start_process() {
    local name="$1"; shift
    if pid_alive "$name"; then
        log "$name already running (pid $(cat "$PIDS/$name.pid"))"
        return 0
    fi
    mkdir -p "$LOGS" "$PIDS"
    # 4>&-: the child must not hold our stderr copy (fd 4), or a caller reading our
    # output would wait for it forever.
    setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null 4>&- &
    echo $! > "$PIDS/$name.pid"
    log "started $name (pid $!)"
}

# rotate_logs: every $LOGS/*.log over SHOP_LOG_MAX_MB (100) has its content moved to
# NAME.log.1 (replacing the previous one) and starts empty, so each log takes at most
# about twice that. Copy then truncate, never rename: the writers (every process of
# the stack, nginx included) keep their file open with O_APPEND, so they carry on at
# the start of the emptied file, with no reopen signal. Lines written between the copy
# and the truncation are lost; at 100 MB that is a rare handful.
rotate_logs() {
    local max_mb="${SHOP_LOG_MAX_MB:-100}" f size
    [[ "$max_mb" =~ ^[1-9][0-9]*$ ]] || die "SHOP_LOG_MAX_MB must be a whole number of MB (got '$max_mb')"
    for f in "$LOGS"/*.log; do
        [ -f "$f" ] || continue
        size="$(stat -c %s -- "$f" 2>/dev/null || echo 0)"
        if [ "$size" -gt $((max_mb * 1024 * 1024)) ]; then
            cp -- "$f" "$f.1" && : > "$f"
        fi
    done
}

# claim_port NAME PORT: fails at once if PORT is taken by something other than our
# NAME (another checkout's stack, say), rather than testing someone else's processes.
claim_port() {
    if ! pid_alive "$1" && port_open "$2"; then
        die "port $2, needed by $1, is taken by another process; stop it first (another checkout's stack: its scripts/stack.sh down)"
    fi
}

# stop_process NAME: SIGTERM, wait for a graceful exit, then SIGKILL.
# stop_process NAME [SECONDS]: TERM, then KILL after SECONDS (40).
stop_process() {
    local name="$1" grace="${2:-40}" pid
    [ -f "$PIDS/$name.pid" ] || return 0
    pid="$(cat "$PIDS/$name.pid")"
    if process_running "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + grace))
        while process_running "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
        if process_running "$pid"; then
            log "$name did not stop in time; killing"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        log "stopped $name"
    fi
    rm -f "$PIDS/$name.pid"
}
