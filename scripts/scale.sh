#!/usr/bin/env bash
# Changes the number of API instances of the running native stack, e.g.
#   scripts/scale.sh 6    # starts api-5004 and api-5005, adds them to nginx once ready
#   scripts/scale.sh 2    # takes api-5002.. out of nginx, then drains and stops them
exec "$(dirname "${BASH_SOURCE[0]}")/stack.sh" scale "$@"
