# Sourced by scripts/run-sample and scripts/test: make .venv and install the project into it, once per
# change of pyproject.toml. Needs only Python >= 3.11 with venv and pip.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

extras="${1:-}"
python="${PYTHON:-}"
if [ -z "$python" ]; then
  for candidate in python3.11 python3.12 python3.13 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1; then python="$candidate"; break; fi
  done
fi
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "daskparse needs Python >= 3.11 (found: $("$python" --version 2>&1))" >&2; exit 1; }

[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=".venv/.installed-$( (cat pyproject.toml; echo "$extras") | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "Installing daskparse${extras:+[$extras]} into .venv (first run takes a few minutes)..." >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras:+[$extras]}"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
