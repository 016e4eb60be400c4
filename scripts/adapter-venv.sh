#!/usr/bin/env bash
# Creates .venvs/<system>: the Python client plus one seed system (pinned in
# requirements/adapters/<system>.txt) and pytest. Each system gets its own environment because
# their pins conflict (arti needs pydantic 1, machinable pydantic 2).
set -euo pipefail
cd "$(dirname "$0")/.."
system="$1"
req="requirements/adapters/$system.txt"
venv=".venvs/$system"
stamp="$venv/.stamp-$(cat "$req" client/python/pyproject.toml | sha256sum | cut -c1-12)"
[ -f "$stamp" ] && exit 0
UV=.venv/bin/uv
rm -rf "$venv"
"$UV" venv -q --python "$(.venv/bin/python -c 'import sys; print(sys.executable)')" "$venv"
"$UV" pip install -q --python "$venv/bin/python" -r "$req" -e client/python pytest==9.2.0 pytest-timeout==2.4.0
touch "$stamp"
