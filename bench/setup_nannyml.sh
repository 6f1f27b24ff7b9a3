#!/usr/bin/env bash
# Create bench/.venv-nannyml: NannyML's CBPE, the peer of the CBPE benchmark.
# nannyml pins its own stack, so it gets a venv of its own; it is never a run-time (or test)
# dependency of mlops. nannyml 0.13 imports statsmodels without declaring it, hence the
# second package. Idempotent: does nothing if the venv already works.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv-nannyml"
python="${PYTHON:-python3.11}"
if "$venv/bin/python" -c "import nannyml" 2>/dev/null; then
    echo "$venv: ready"
    exit 0
fi
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "nannyml==0.13.*" statsmodels
"$venv/bin/python" -c "import nannyml; print('$venv: nannyml', nannyml.__version__)"
