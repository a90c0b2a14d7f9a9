# Sourced by the other scripts: make sure .venv exists and has quotaflow with the given extras.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
extras="$1"
if [ ! -x .venv/bin/python ]; then
  python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "quotaflow needs Python 3.11 or newer (found $("$python" --version))" >&2; exit 1; }
  "$python" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip 2> >(grep -v "is ignored" >&2)
fi
stamp=".venv/.installed-$extras"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  # This machine's pip configuration names optional local indexes; keep their notices out.
  .venv/bin/python -m pip install --quiet -e ".[$extras]" 2> >(grep -v "is ignored" >&2)
  touch "$stamp"
fi
