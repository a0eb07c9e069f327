#!/usr/bin/env bash
# Restarts every API instance of the running native stack, one at a time, without
# dropping a request (e.g. to run a new build: `cargo build --release` first).
exec "$(dirname "${BASH_SOURCE[0]}")/stack.sh" rolling-restart "$@"
