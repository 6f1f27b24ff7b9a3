#!/usr/bin/env bash
# Create bench/.venv-NAME for a benchmark's peer library: a venv of its own, because a peer
# pins its own stack (Evidently 0.7 needs pandas<3; nannyml pins numpy and pandas), and never
# a run-time or test dependency of mlops. Idempotent: does nothing if MODULE already imports.
# Usage: bench/setup_peer.sh NAME MODULE PACKAGE...
set -euo pipefail
name="$1" module="$2"
shift 2
venv="$(cd "$(dirname "$0")" && pwd)/.venv-$name"
python="${PYTHON:-python3.11}"
if "$venv/bin/python" -c "import $module" 2>/dev/null; then
    echo "$venv: ready"
    exit 0
fi
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
"$venv/bin/python" -c "import $module; print('$venv: $module', $module.__version__)"
