#!/bin/sh
# Run inside the image at build time (Dockerfile): fails the build when a shared library
# the binaries need is missing, or when a binary is not the real program (a stub build
# exits 0 and prints nothing).
set -eu
bins="/usr/local/bin/api /usr/local/bin/email-consumer /usr/local/bin/inventory-consumer"
# shellcheck disable=SC2086
if ldd $bins | grep 'not found'; then echo "missing shared libraries" >&2; exit 1; fi
api openapi | grep -q '"/api/orders"' || { echo "api openapi printed no spec with /api/orders" >&2; exit 1; }
for consumer in email-consumer inventory-consumer; do
    # Without configuration a consumer stops at once, naming the first variable it lacks.
    out="$(env -i PATH=/usr/bin:/bin "/usr/local/bin/$consumer" 2>&1 || true)"
    echo "$out" | grep -q '[A-Z_]\{4,\}' || { echo "$consumer did not name a missing variable: $out" >&2; exit 1; }
done
echo "image check: 3 binaries link and answer"
