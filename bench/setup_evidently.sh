#!/usr/bin/env bash
# Create bench/.venv-evidently: Evidently 0.7 for the drift benchmark's peer comparison.
# Evidently 0.7 cannot import with pandas 3, so it gets its own venv with pandas<3; it is
# never a run-time dependency of mlops. Idempotent: does nothing if the venv already works.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv-evidently"
python="${PYTHON:-python3.11}"
if "$venv/bin/python" -c "import evidently" 2>/dev/null; then
    echo "$venv: ready"
    exit 0
fi
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "evidently==0.7.*" "pandas<3" pyarrow
"$venv/bin/python" -c "import evidently; print('$venv: evidently', evidently.__version__)"
