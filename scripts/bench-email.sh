#!/usr/bin/env bash
# The email consumer's throughput beside the SMTP server's own ingest rate, measured in
# the same run by a plain SMTP client (Python smtplib) against the same server; and the
# time from order response to confirmation e-mail with orders arriving at a fixed rate.
#
#   scripts/bench-email.sh      (the stack must be up: scripts/stack.sh up)
#   BENCH_ORDER_RATE=200 BENCH_SECONDS=60 BENCH_DRAIN_EVENTS=3000 scripts/bench-email.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_env
http_ok "http://127.0.0.1:$NGINX_PORT/health/ready" || die "the stack is not up (scripts/stack.sh up)"
export SHOP_URL="http://127.0.0.1:$NGINX_PORT" MAILDEV_URL="http://127.0.0.1:$MAILDEV_WEB_PORT"
connections="${SMTP_MAX_CONNECTIONS:-8}"
(cd "$REPO" && cargo build --release --quiet -p e2e --bin bench-email)

# The reference: 1,000 messages of the confirmation's size over one reused connection,
# then over as many connections as the consumer may use.
smtp_rate() {
    python3 - "$MAILDEV_SMTP_PORT" "$1" <<'PY'
import smtplib, sys, threading, time
port, conns, total = int(sys.argv[1]), int(sys.argv[2]), 1000
body = "Subject: reference\r\nMessage-ID: <ref@bench>\r\n\r\n" + ("x" * 900 + "\r\n") * 2
def run(n):
    s = smtplib.SMTP("127.0.0.1", port)
    for i in range(n):
        s.sendmail("bench@shop.local", [f"smtp-reference-{i}@example.com"], body)
    s.quit()
start = time.time()
threads = [threading.Thread(target=run, args=(total // conns,)) for _ in range(conns)]
[t.start() for t in threads]
[t.join() for t in threads]
print(f"{(total // conns) * conns / (time.time() - start):.0f}")
PY
}
# The catcher keeps every mail in memory and the bench reads them all: start empty.
curl -fsS -X DELETE "$MAILDEV_URL/email/all" >/dev/null
one="$(smtp_rate 1)"
many="$(smtp_rate "$connections")"
reference=$(( one > many ? one : many ))
out="$("$BIN/bench-email")"
drain="$(grep '^DRAIN' <<<"$out")"
paced="$(grep '^PACED' <<<"$out")"
rate="$(sed -E 's/.*rate=([0-9.]+)$/\1/' <<<"$drain")"
printf '\nSMTP server ingest (plain client): %s mails/s on 1 connection, %s on %s\n' "$one" "$many" "$connections"
printf 'email consumer on a backlog:       %s mails/s  -> %.2fx the better SMTP reference\n' \
    "$rate" "$(awk -v a="$rate" -v b="$reference" 'BEGIN { print a / b }')"
printf '  raw: %s\n' "$drain"
printf '\norders at a fixed rate, order response -> e-mail in the catcher:\n  %s\n' "$paced"
