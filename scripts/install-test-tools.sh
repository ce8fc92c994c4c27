#!/bin/sh
# System tools the test suite drives for real (run as root on a fresh Debian machine):
#   docker          the client parses every generated `docker run` command
#   docker-compose  validates every generated compose file offline (`config -q`)
#   shellcheck      lints the generated run scripts
#   kubectl         renders every Kubernetes bundle (`kubectl kustomize`); Debian's package is
#                   kubernetes-client
#   chromium        the catalogue site's browser tests (driven by Playwright)
# and the released engine wheels (vLLM, SGLang, at the versions the engine data pins, without their
# GPU dependencies) in the venvs tests/engines/test_real_parser.py runs their real parsers from.
# Anything already present is left alone.
set -eu
need=""
command -v docker >/dev/null 2>&1 || need="$need docker.io"
command -v docker-compose >/dev/null 2>&1 || need="$need docker-compose"
command -v shellcheck >/dev/null 2>&1 || need="$need shellcheck"
command -v kubectl >/dev/null 2>&1 || need="$need kubernetes-client"
[ -x /usr/bin/chromium ] || need="$need chromium"
if [ -n "$need" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-test-tools: need root to install:$need" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
fi

cd "$(dirname "$0")/.."
for engine in vllm sglang; do
  version=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' \
    "compiler/aim_engine/catalogue/data/engines/$engine.json")
  python3 -m tools.flagdump "$engine" "$version" --venv-only >/dev/null
done
