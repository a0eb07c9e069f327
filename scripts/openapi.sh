#!/usr/bin/env bash
# Regenerates openapi/openapi.json from the code (a test fails when it drifts).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --quiet --bin api -- openapi > openapi/openapi.json
echo "wrote openapi/openapi.json"
