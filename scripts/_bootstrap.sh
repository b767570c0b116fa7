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
# One stamp per set of extras, named after the pyproject.toml installed from: scripts/test ("test") and
# scripts/run-sample (none) each keep their own, so running them in turn installs nothing again (each used to
# delete the other's). No extras are satisfied by any stamp of this pyproject.toml: every install holds them.
digest="$(sha256sum pyproject.toml | cut -c1-16)"
stamp=".venv/.installed-$digest-${extras:-base}"
if [ ! -f "$stamp" ] && ! { [ -z "$extras" ] && compgen -G ".venv/.installed-$digest-*" >/dev/null; }; then
  echo "Installing daskparse${extras:+[$extras]} into .venv (first run takes a few minutes)..." >&2
  # -q -q: errors only. With one -q pip still prints warnings, and setuptools warns on every editable install
  # ("BuildBackendWarning: Editable installation. Please be careful with folders in your working directory...").
  .venv/bin/python -m pip install -q -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q -q --disable-pip-version-check -e ".${extras:+[$extras]}"
  for old in .venv/.installed-*; do  # stamps of another pyproject.toml, or of the old one-stamp scheme
    [[ "$old" == ".venv/.installed-$digest-"* ]] || rm -f "$old"
  done
  touch "$stamp"
fi
