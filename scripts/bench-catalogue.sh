#!/usr/bin/env bash
# Cached `GET /api/products` through nginx and directly against one instance, beside
# the ceiling: nginx with the shop's http settings and access log, proxying to a
# trivial upstream (a second nginx server returning the very same bytes from a file),
# all measured in this run with wrk.
#
#   scripts/bench-catalogue.sh     (the stack must be up: scripts/stack.sh up)
#   BENCH_SECONDS=10 BENCH_CONCURRENCY="8 32" scripts/bench-catalogue.sh
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
        access_log $bench/access.log shop_json;
        location / {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://trivial;
        }
    }
}
CONF
[ "$(id -u)" -ne 0 ] || chown -R nobody "$bench/tmp"
"$(command -v nginx || echo /usr/sbin/nginx)" -c "$bench/nginx.conf" -p "$bench" </dev/null >/dev/null 2>&1
trap 'kill -QUIT "$(cat "$bench/nginx.pid" 2>/dev/null)" 2>/dev/null || true' EXIT
wait_until 10 "the bench nginx" http_ok "http://127.0.0.1:18081/"

run() { # url concurrency -> "rps p50 p99"
    wrk -t2 -c"$2" -d"${seconds}s" --latency "$1" | awk '
        /Requests\/sec/ { rps = $2 }
        $1 == "50%" { p50 = $2 }
        $1 == "99%" { p99 = $2 }
        END { print rps, p50, p99 }'
}

printf '\nGET %s (%s bytes), %ss per run, wrk -t2\n\n' "$path" "$bytes" "$seconds"
printf '%-34s %6s %12s %10s %10s %10s\n' target conns req/s p50 p99 "vs ceiling"
for c in ${BENCH_CONCURRENCY:-8 32}; do
    read -r ceil_rps ceil_p50 ceil_p99 <<<"$(run "http://127.0.0.1:18081/" "$c")"
    read -r nginx_rps nginx_p50 nginx_p99 <<<"$(run "http://127.0.0.1:$NGINX_PORT$path" "$c")"
    read -r inst_rps inst_p50 inst_p99 <<<"$(run "http://127.0.0.1:$API_BASE_PORT$path" "$c")"
    ratio() { awk -v a="$1" -v b="$ceil_rps" 'BEGIN { printf "%.2f", a / b }'; }
    printf '%-34s %6s %12s %10s %10s %10s\n' "ceiling: nginx -> static bytes" "$c" "$ceil_rps" "$ceil_p50" "$ceil_p99" "1.00"
    printf '%-34s %6s %12s %10s %10s %10s\n' "cached listing via nginx (x4)" "$c" "$nginx_rps" "$nginx_p50" "$nginx_p99" "$(ratio "$nginx_rps")"
    printf '%-34s %6s %12s %10s %10s %10s\n' "cached listing, one instance" "$c" "$inst_rps" "$inst_p50" "$inst_p99" "$(ratio "$inst_rps")"
done
echo
echo "All processes share this machine's cores with wrk; the ratio is what matters."
