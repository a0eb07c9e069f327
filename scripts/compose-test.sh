#!/usr/bin/env bash
# docker-compose.yml, run for real: the operator's journey on local stand-in images.
#
#   scripts/compose-test.sh          (after scripts/stack.sh up has built the binaries)
#   scripts/compose-test.sh --full-build
#                                    only build the Dockerfile's default target (the
#                                    operators' build from source) on a rust stand-in
#                                    and check the image; not part of CI (about 10
#                                    minutes on 2 cores)
#
# No image registry is reachable where this project is tested, so every image the
# compose file names is a stand-in built here from Debian packages (debootstrap base)
# and the project's own binaries: tests/compose/standins/. The shop image is the
# Dockerfile's `prebuilt` target over the native stack's release binaries
# (tests/compose/prebuilt.yml). The product's docker-compose.yml is used unchanged.
#
# The run: install the engine and Compose v2 if missing; build (or reuse) the stand-ins;
# copy the checkout to .stack/compose/src with a .env of its own (fresh secrets, its
# own host ports and subnet, project `shopci`), so it never touches the native stack;
# `up`; the customer and admin journey; then, with GET and order loops running
# through nginx and every request counted, scale 4 -> 6 (scripts/compose-scale.sh),
# 6 -> 2 (plain `docker compose up -d --scale`), 2 -> 4 (the script) and roll onto a
# new image (the script); `down -v`. Exits non-zero if any step fails or
# any request failed. Stand-in images stay cached for the next run on this machine.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

STANDINS="$REPO/tests/compose/standins"
WORK="$RUNTIME/compose"
SRC="$WORK/src"
export COMPOSE_PROJECT_NAME="${COMPOSE_TEST_PROJECT:-shopci}"
export COMPOSE_FILE="docker-compose.yml:tests/compose/prebuilt.yml"
HTTP_PORT="${COMPOSE_TEST_HTTP_PORT:-18080}"
MAIL_PORT="${COMPOSE_TEST_MAIL_PORT:-11080}"
SUBNET="${COMPOSE_TEST_SUBNET_PREFIX:-172.30.99}"
# The trixie package of Compose v2 (a static Go binary; bookworm has only v1).
COMPOSE_DEB_SUITE=trixie

step() { log "compose-test: $*"; }

ensure_engine() {
    if ! command -v dockerd >/dev/null; then
        step "installing the Docker engine (docker.io)"
        apt_install docker.io
    fi
    if ! docker compose version >/dev/null 2>&1; then
        step "installing Docker Compose v2 (the $COMPOSE_DEB_SUITE package)"
        local index file
        index="$(curl -fsS "http://deb.debian.org/debian/dists/$COMPOSE_DEB_SUITE/main/binary-amd64/Packages.xz" | xz -dc)"
        file="$(awk '/^Package: docker-compose$/{p=1} p&&/^Filename:/{print $2; exit}' <<<"$index")"
        [ -n "$file" ] || die "no docker-compose package in $COMPOSE_DEB_SUITE"
        curl -fsS -o "$WORK/docker-compose.deb" "http://deb.debian.org/debian/$file"
        as_root dpkg -i "$WORK/docker-compose.deb" >/dev/null
    fi
    docker compose version --short | grep -Eq '^v?2\.' || die "Docker Compose v2 is required: $(docker compose version 2>&1)"
    if ! docker info >/dev/null 2>&1; then
        step "starting dockerd"
        as_root bash -c "setsid nohup dockerd >>'$LOGS/dockerd.log' 2>&1 < /dev/null &"
        wait_until 60 "the Docker engine" docker info
    fi
}

# base SUITE: a Debian image made with debootstrap (minbase), once per machine.
base() {
    local suite="$1" tag="shop-standin/debian:$1" root="$WORK/rootfs-$1"
    docker image inspect "$tag" >/dev/null 2>&1 && return 0
    command -v debootstrap >/dev/null || apt_install debootstrap
    step "debootstrap $suite (once per machine)"
    as_root rm -rf "$root"
    as_root debootstrap --variant=minbase "$suite" "$root" http://deb.debian.org/debian >"$LOGS/debootstrap-$suite.log" 2>&1 \
        || die "debootstrap $suite failed (see $LOGS/debootstrap-$suite.log)"
    as_root rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
    as_root tar -C "$root" -c . | docker import --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' - "$tag" >/dev/null
    as_root rm -rf "$root"
}

# standin DIR TAG [FILE...]: build tests/compose/standins/DIR as TAG, with FILEs copied
# into the build context (the daemon's build cache makes a rebuild take seconds).
standin() {
    local dir="$1" tag="$2" ctx="$WORK/ctx-$1"
    shift 2
    rm -rf "$ctx" && mkdir -p "$ctx"
    cp -a "$STANDINS/$dir/." "$ctx/"
    [ "$#" -eq 0 ] || cp -a "$@" "$ctx/"
    DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$ctx" >"$LOGS/standin-$dir.log" 2>&1 \
        || die "building the $tag stand-in failed (see $LOGS/standin-$dir.log)"
    rm -rf "$ctx"
}

build_standins() {
    step "stand-in images"
    base bookworm
    base sid
    # The product's Dockerfile builds FROM debian:bookworm-slim.
    docker image inspect debian:bookworm-slim >/dev/null 2>&1 \
        || docker tag shop-standin/debian:bookworm debian:bookworm-slim
    local tansu maildev="$RUNTIME/tools/node_modules"
    tansu="$(command -v tansu || echo "$HOME/.cargo/bin/tansu")"
    [ -x "$tansu" ] || die "no tansu binary: run scripts/stack.sh up first"
    [ -d "$maildev/maildev" ] || die "no MailDev in $maildev: run scripts/stack.sh up first"
    standin postgres postgres:16
    standin redis redis:7.4
    standin kafka apache/kafka:3.9.0 "$tansu"
    standin mail maildev/maildev:2.1.0 "$maildev"
    standin nginx nginx:1.28.0
}

# The checkout as it is (tracked and new files, not ignored ones), the release
# binaries, and a .env of its own with fresh secrets, its own ports and subnet.
prepare_copy() {
    local bin
    for bin in api email-consumer inventory-consumer; do
        [ -x "target/release/$bin" ] || die "no target/release/$bin: run scripts/stack.sh up first"
    done
    rm -rf "$SRC" && mkdir -p "$SRC/target/release"
    git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
        [ -e "$f" ] && printf '%s\0' "$f"
    done | xargs -0 cp --parents -t "$SRC"
    for bin in api email-consumer inventory-consumer; do
        cp -l "target/release/$bin" "$SRC/target/release/$bin" 2>/dev/null || cp "target/release/$bin" "$SRC/target/release/$bin"
    done
    env_with_secrets "$SRC/.env"
    sed -i -E -e "s/^NGINX_PORT=.*/NGINX_PORT=$HTTP_PORT/" -e "s/^MAILDEV_WEB_PORT=.*/MAILDEV_WEB_PORT=$MAIL_PORT/" \
        -e "s/^DOCKER_SUBNET_PREFIX=.*/DOCKER_SUBNET_PREFIX=$SUBNET/" "$SRC/.env"
}

dc() { (cd "$SRC" && docker compose "$@"); }

wait_ready() {
    local deadline=$((SECONDS + 300))
    until curl -fsS -o /dev/null --max-time 3 "http://127.0.0.1:$HTTP_PORT/health/ready"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            dc ps -a >&2 || true
            die "the compose stack was not ready through nginx after 300 s"
        fi
        sleep 2
    done
}

# phase NAME: the load counts the requests sent from now on under NAME.
phase() { echo "$1" > "$WORK/state.json.phase"; step "phase: $1"; }

LOAD_PID=""
cleanup() {
    local status=$?
    [ -z "$LOAD_PID" ] || kill "$LOAD_PID" 2>/dev/null || true
    if [ -d "$SRC" ] && [ "${COMPOSE_TEST_KEEP:-}" != 1 ]; then
        dc logs --no-color >"$LOGS/compose.log" 2>&1 || true
        dc down -v --remove-orphans >/dev/null 2>&1 || true
        # The shop images this run built and no tag names any more (the stand-ins stay).
        docker image prune -f --filter label=org.opencontainers.image.title=shop-api >/dev/null 2>&1 || true
    fi
    exit "$status"
}

# The value of NAME in the copy's .env.
setting() { (set -a; . "$SRC/.env"; set +a; printenv "$1"); }

main() {
    mkdir -p "$WORK" "$LOGS"
    # Compose prefers the environment to the project's .env: a native stack's settings
    # exported by the caller (scripts/test.sh) would leak into the compose stack.
    local v
    for v in $(grep -oE '^[A-Z][A-Z0-9_]*' .env.example); do unset "$v"; done
    ensure_engine
    build_standins
    prepare_copy
    trap cleanup EXIT
    dc down -v --remove-orphans >/dev/null 2>&1 || true

    step "build the shop image (target prebuilt) and up"
    local started=$SECONDS
    SHOP_REVISION=compose-test-1 dc build api >"$LOGS/compose-build.log" 2>&1 \
        || die "docker compose build failed (see $LOGS/compose-build.log)"
    # Everything but Prometheus and Grafana, which have no stand-in.
    dc up -d postgres redis kafka mail migrate api email-consumer inventory-consumer nginx \
        >"$LOGS/compose-up.log" 2>&1 || { cat "$LOGS/compose-up.log" >&2; die "docker compose up failed"; }
    wait_ready
    step "up and ready through nginx in $((SECONDS - started)) s"
    [ "$(dc ps -a --format '{{.Service}} {{.State}} {{.ExitCode}}' migrate)" = "migrate exited 0" ] \
        || die "migrate did not exit 0: $(dc ps -a migrate)"

    export SHOP_URL="http://127.0.0.1:$HTTP_PORT" MAILDEV_URL="http://127.0.0.1:$MAIL_PORT"
    ADMIN_EMAIL="$(setting ADMIN_EMAIL)" ADMIN_PASSWORD="$(setting ADMIN_PASSWORD)" SHOP_NAME="$(setting SHOP_NAME)"
    CORS_ALLOWED_ORIGINS="$(setting CORS_ALLOWED_ORIGINS)"
    export ADMIN_EMAIL ADMIN_PASSWORD SHOP_NAME CORS_ALLOWED_ORIGINS
    python3 tests/compose/journey.py journey "$WORK/state.json"

    step "load: GET loops and an order loop through nginx"
    rm -f "$WORK/load.json" "$WORK/load.json.ready"
    phase start
    python3 tests/compose/journey.py load "$WORK/state.json" "$WORK/load.json" &
    LOAD_PID=$!
    wait_until 30 "the load" test -f "$WORK/load.json.ready"
    sleep 3

    local scale="$SRC/scripts/compose-scale.sh"
    phase scale-4-to-6;  NGINX_PORT="$HTTP_PORT" "$scale" 6
    # The plain compose command, as an operator may type it; the script then only
    # checks that nginx lists exactly the 2 that remain.
    phase scale-6-to-2;  dc up -d --no-deps --no-recreate --scale api=2 api >>"$LOGS/compose-up.log" 2>&1 \
        || die "docker compose up --scale api=2 failed"
                         NGINX_PORT="$HTTP_PORT" "$scale" 2
    phase scale-2-to-4;  NGINX_PORT="$HTTP_PORT" "$scale" 4
    phase build-new;     SHOP_REVISION=compose-test-2 dc build api >>"$LOGS/compose-build.log" 2>&1 \
        || die "building the new image failed"
    phase roll;          NGINX_PORT="$HTTP_PORT" "$scale" --roll
    phase after;         sleep 3

    kill -TERM "$LOAD_PID"
    local load_status=0
    wait "$LOAD_PID" || load_status=$?
    LOAD_PID=""
    local revisions
    revisions="$(dc ps -q api | xargs docker inspect -f '{{index .Config.Labels "org.opencontainers.image.revision"}}' | sort -u | tr '\n' ' ')"
    [ "$revisions" = "compose-test-2 " ] || die "after the roll the api replicas run revisions: $revisions"
    [ "$load_status" -eq 0 ] || die "requests failed during the operator journey (see above and $WORK/load.json)"
    step "0 failed requests across scale up, scale down and the rolling restart ($((SECONDS - started)) s)"
}

# The Dockerfile's default target, from source, in the rust stand-in.
full_build() {
    local toolchain="$HOME/.rustup/toolchains/1.95.0-x86_64-unknown-linux-gnu" ctx="$WORK/ctx-rust"
    [ -x "$toolchain/bin/cargo" ] || die "no Rust 1.95.0 toolchain in $toolchain"
    step "rust stand-in (the host's toolchain, without its docs)"
    rm -rf "$ctx" && mkdir -p "$ctx/extra-ca" "$ctx/toolchain"
    cp -a "$STANDINS/rust/." "$ctx/"
    cp /usr/local/share/ca-certificates/*.crt "$ctx/extra-ca/" 2>/dev/null || true
    (cd "$toolchain/" && tar -c --exclude=./share/doc --exclude=./share/man .) | tar -C "$ctx/toolchain" -x
    DOCKER_BUILDKIT=0 docker build -q -t rust:1.95.0-bookworm "$ctx" >"$LOGS/standin-rust.log" 2>&1 \
        || die "building the rust stand-in failed (see $LOGS/standin-rust.log)"
    rm -rf "$ctx"
    step "docker build of the default target (from source)"
    local started=$SECONDS
    # As an operator builds it: the product's compose file alone (BuildKit).
    (cd "$SRC" && COMPOSE_FILE=docker-compose.yml docker compose build api) >"$LOGS/compose-full-build.log" 2>&1 \
        || die "the full build failed (see $LOGS/compose-full-build.log)"
    docker tag shop-api:local shop-api:full-build
    step "full build in $((SECONDS - started)) s; image $(docker image inspect -f '{{.Size}}' shop-api:full-build | awk '{printf "%d MB", $1 / 1e6}')"
    docker run --rm --entrypoint ls shop-api:full-build -l /usr/local/bin
}

if [ "${1:-}" = --full-build ]; then
    mkdir -p "$WORK" "$LOGS"
    ensure_engine
    build_standins
    prepare_copy
    full_build
else
    main "$@"
fi
