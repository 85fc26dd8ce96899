#!/usr/bin/env bash
# Ensures the Python reference (posttroll 1.16.0, with pyzmq) in a venv at
# $REPO/.venv, for the interop tests. Idempotent: a second run only checks.
#
# Python 3.12 is taken from pyenv (PYENV_VERSION=3.12.1) when available,
# else from `python3.12` on the PATH.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
py="$venv/bin/python"
want="1.16.0"

have_version() {
    "$py" - "$want" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
import posttroll, zmq  # noqa: F401  (both must import)
sys.exit(0 if version("posttroll") == sys.argv[1] else 1)
PY
}

if [ -x "$py" ] && have_version; then
    echo "setup-python: $venv already has posttroll $want ($("$py" --version 2>&1))"
    exit 0
fi

if [ ! -x "$py" ]; then
    if command -v pyenv >/dev/null 2>&1 && PYENV_VERSION=3.12.1 pyenv exec python --version >/dev/null 2>&1; then
        echo "setup-python: creating $venv with pyenv Python 3.12.1"
        PYENV_VERSION=3.12.1 pyenv exec python -m venv "$venv"
    elif PYENV_VERSION=3.12.1 python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; then
        echo "setup-python: creating $venv with $(PYENV_VERSION=3.12.1 python --version 2>&1)"
        PYENV_VERSION=3.12.1 python -m venv "$venv"
    elif command -v python3.12 >/dev/null 2>&1; then
        echo "setup-python: creating $venv with $(command -v python3.12)"
        python3.12 -m venv "$venv"
    else
        echo "setup-python: ERROR: no Python 3.12 found (tried pyenv 3.12.1 and python3.12)." >&2
        echo "setup-python: install one (e.g. 'pyenv install 3.12.1') and re-run." >&2
        exit 1
    fi
fi

echo "setup-python: installing posttroll==$want into $venv"
"$py" -m pip install --disable-pip-version-check --quiet "posttroll==$want"
if ! have_version; then
    echo "setup-python: ERROR: posttroll $want still not importable from $py" >&2
    exit 1
fi
echo "setup-python: ok: posttroll $("$py" -c 'from importlib.metadata import version; print(version("posttroll"))'), pyzmq $("$py" -c 'import zmq; print(zmq.__version__)')"
