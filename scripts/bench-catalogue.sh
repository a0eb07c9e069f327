#!/usr/bin/env bash
# Cached `GET /api/products` through nginx and directly against one instance, beside
# two references measured in this run with wrk:
#   - shop ref: nginx with the shop's http settings and access log, proxying to a
#     trivial upstream (an nginx server returning the very same bytes from a file);
#   - bare: the issue's ceiling, an nginx with nginx's own settings and no access log
#     proxying (keepalive) to an nginx server returning the same bytes from a file.
# Also the resident memory (VmRSS) of every API instance at rest, before any run, and
# its peak while the listing runs.
#
#   scripts/bench-catalogue.sh     (the stack must be up: scripts/stack.sh up)
#   BENCH_SECONDS=10 BENCH_CONCURRENCY="8 32 64" scripts/bench-catalogue.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env
command -v wrk >/dev/null || { log "installing wrk"; apt_install wrk; }
http_ok "http://127.0.0.1:$NGINX_PORT/health/ready" || die "the stack is not up (scripts/stack.sh up)"

seconds="${BENCH_SECONDS:-10}"
path="/api/products?page_size=20"
# Outside the checkout: nginx workers run as `nobody` and must read these files,
# and a checkout may sit under a private directory.
bench="${TMPDIR:-/tmp}/shop-bench-catalogue-$(id -u)"
mkdir -p "$bench/tmp" "$bench/www"
chmod 755 "$bench" "$bench/www"
# Warm the cache and keep the exact bytes for the trivial upstream.
curl -fsS "http://127.0.0.1:$NGINX_PORT$path" -o "$bench/www/products.json"
curl -fsS "http://127.0.0.1:$NGINX_PORT$path" -o /dev/null
bytes="$(wc -c < "$bench/www/products.json")"

cat > "$bench/nginx.conf" <<CONF
worker_processes auto;
pid $bench/nginx.pid;
error_log $bench/error.log warn;
events { worker_connections 4096; }
http {
    # The shop's own http settings (log format, keep-alive, gzip); only the upstream
    # differs from the shop's nginx.
    include $REPO/nginx/shop-http.conf;
    access_log off;
    client_body_temp_path $bench/tmp;
    proxy_temp_path $bench/tmp;
    fastcgi_temp_path $bench/tmp;
    uwsgi_temp_path $bench/tmp;
    scgi_temp_path $bench/tmp;
    upstream trivial { server 127.0.0.1:18082; keepalive 64; }
    # The trivial upstream: the listing's bytes from a file.
    server {
        listen 127.0.0.1:18082;
        root $bench/www;
        location / { default_type application/json; try_files /products.json =404; }
    }
    # The ceiling: nginx proxying to it, configured like the shop's nginx.
    server {
        listen 127.0.0.1:18081;
        access_log $bench/access.log shop_json buffer=64k flush=1s;
        location / {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://trivial;
        }
    }
}
CONF
# The bare reference: nginx's defaults but for what any proxy in front of a fast
# upstream sets (keepalive to the upstream, long client keepalive), no access log.
cat > "$bench/bare.conf" <<CONF
worker_processes auto;
pid $bench/bare.pid;
error_log $bench/bare-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    keepalive_requests 10000;
    client_body_temp_path $bench/tmp;
    proxy_temp_path $bench/tmp;
    fastcgi_temp_path $bench/tmp;
    uwsgi_temp_path $bench/tmp;
    scgi_temp_path $bench/tmp;
    upstream bare_file { server 127.0.0.1:18084; keepalive 64; }
    server {
        listen 127.0.0.1:18084;
        root $bench/www;
        location / { default_type application/json; try_files /products.json =404; }
    }
    server {
        listen 127.0.0.1:18083;
        location / {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://bare_file;
        }
    }
}
CONF
[ "$(id -u)" -ne 0 ] || chown -R nobody "$bench/tmp"
nginx_cmd="$(command -v nginx || echo /usr/sbin/nginx)"
sampler=""
cleanup() {
    local pidfile
    for pidfile in "$bench/nginx.pid" "$bench/bare.pid"; do
        if [ -f "$pidfile" ]; then kill -QUIT "$(cat "$pidfile")" 2>/dev/null || true; fi
    done
    [ -z "$sampler" ] || kill "$sampler" 2>/dev/null || true
}
trap cleanup EXIT
"$nginx_cmd" -c "$bench/nginx.conf" -p "$bench" </dev/null >/dev/null 2>&1
"$nginx_cmd" -c "$bench/bare.conf" -p "$bench" </dev/null >/dev/null 2>&1
wait_until 10 "the bench nginx" http_ok "http://127.0.0.1:18081/"
wait_until 10 "the bare nginx" http_ok "http://127.0.0.1:18083/"

run() { # url concurrency -> "rps p50 p99"
    wrk -t2 -c"$2" -d"${seconds}s" --latency "$1" | awk '
        /Requests\/sec/ { rps = $2 }
        $1 == "50%" { p50 = $2 }
        $1 == "99%" { p99 = $2 }
        END { print rps, p50, p99 }'
}

# "NAME PID" of every API instance the stack started.
api_pids() {
    local f
    for f in "$PIDS"/api-*.pid; do
        [ -e "$f" ] || continue
        printf '%s %s\n' "$(basename "$f" .pid)" "$(cat "$f")"
    done
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true; }

# sample_peak_rss OUT: until killed, every 0.5 s, writes "NAME PEAK_KB" per instance
# to OUT (the highest VmRSS seen so far).
sample_peak_rss() {
    local out="$1" name pid kb
    local -A peak=()
    while :; do
        while read -r name pid; do
            kb="$(rss_kb "$pid")"
            [ -n "$kb" ] || continue
            if [ "${peak[$name]:-0}" -lt "$kb" ]; then peak[$name]="$kb"; fi
        done < <(api_pids)
        for name in "${!peak[@]}"; do printf '%s %s\n' "$name" "${peak[$name]}"; done >"$out.tmp"
        mv "$out.tmp" "$out"
        sleep 0.5
    done
}

mb() { awk -v kb="$1" 'BEGIN { if (kb == "") print "?"; else printf "%.1f", kb / 1024 }'; }

declare -A rest_kb=()
while read -r name pid; do rest_kb[$name]="$(rss_kb "$pid")"; done < <(api_pids)
[ "${#rest_kb[@]}" -gt 0 ] || log "no API instance pid under $PIDS: RSS not measured"

printf '\nGET %s (%s bytes), %ss per run, wrk -t2\n' "$path" "$bytes" "$seconds"
printf 'shop ref: nginx with the shop'"'"'s settings and access log -> static bytes\n'
printf 'bare:     nginx, access log off, keepalive -> static bytes (goal: listing via nginx >= 0.5x, p99 <= 10ms)\n\n'
printf '%-34s %6s %12s %10s %10s %9s %9s\n' target conns req/s p50 p99 "vs shop" "vs bare"
rm -f "$bench/rss-peak"
sample_peak_rss "$bench/rss-peak" &
sampler=$!
for c in ${BENCH_CONCURRENCY:-8 32 64}; do
    read -r bare_rps bare_p50 bare_p99 <<<"$(run "http://127.0.0.1:18083/" "$c")"
    read -r ceil_rps ceil_p50 ceil_p99 <<<"$(run "http://127.0.0.1:18081/" "$c")"
    read -r nginx_rps nginx_p50 nginx_p99 <<<"$(run "http://127.0.0.1:$NGINX_PORT$path" "$c")"
    read -r inst_rps inst_p50 inst_p99 <<<"$(run "http://127.0.0.1:$API_BASE_PORT$path" "$c")"
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "?" }'; }
    row() { # label rps p50 p99
        printf '%-34s %6s %12s %10s %10s %9s %9s\n' "$1" "$c" "$2" "$3" "$4" \
            "$(ratio "$2" "$ceil_rps")" "$(ratio "$2" "$bare_rps")"
    }
    row "bare: nginx -> static bytes" "$bare_rps" "$bare_p50" "$bare_p99"
    row "shop ref: nginx -> static bytes" "$ceil_rps" "$ceil_p50" "$ceil_p99"
    row "cached listing via nginx (x4)" "$nginx_rps" "$nginx_p50" "$nginx_p99"
    row "cached listing, one instance" "$inst_rps" "$inst_p50" "$inst_p99"
done
sleep 1
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
sampler=""

declare -A peak_kb=()
if [ -f "$bench/rss-peak" ]; then
    while read -r name kb; do peak_kb[$name]="$kb"; done <"$bench/rss-peak"
fi
printf '\nAPI instance RSS (VmRSS; goal: <= 50 MB at rest and during the listing runs)\n'
printf '%-12s %12s %16s\n' instance "at rest MB" "listing peak MB"
for name in $(printf '%s\n' "${!rest_kb[@]}" | sort); do
    printf '%-12s %12s %16s\n' "$name" "$(mb "${rest_kb[$name]}")" "$(mb "${peak_kb[$name]:-}")"
done
echo
echo "All processes share this machine's cores with wrk; the ratios are what matter."
