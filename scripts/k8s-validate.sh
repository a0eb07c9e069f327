#!/usr/bin/env bash
# Validates the Kubernetes manifests in k8s/ against the Kubernetes API schemas
# (kubernetes-validate from PyPI, strict: unknown fields are errors). Checked by schema
# only: no cluster runs where this project is tested.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"
KV="$RUNTIME/venv/bin/kubernetes-validate"
if [ ! -x "$KV" ]; then
    tools_venv
    "$RUNTIME/venv/bin/pip" install -q 'kubernetes-validate>=1.30,<2'
fi
mapfile -t manifests < <(ls k8s/*.yaml | grep -v kustomization.yaml)
[ "${#manifests[@]}" -ge 5 ] || die "expected the manifests in k8s/, found: ${manifests[*]}"
"$KV" --strict --quiet "${manifests[@]}"
log "k8s: ${#manifests[@]} manifests valid against the Kubernetes API schemas (kubernetes-validate $("$KV" --version 2>/dev/null | head -1), strict)"
