#!/usr/bin/env bash
# Run the example project's tests the way a user's CI would: pytest in the project folder, the plugin found through
# its pytest11 entry point, --queue-provider=emulator starting the emulator in process on a free port.
# Installs nothing: it uses the Python that has queue-runtime installed (PYTHON, else the repo's .venv, else python3).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
  if [[ -x "$repo/.venv/bin/python" ]]; then python="$repo/.venv/bin/python"; else python="python3"; fi
fi
cd "$here"
# -c pyproject.toml: this project's own settings, never the parent repository's.
"$python" -m pytest -c pyproject.toml -p no:cacheprovider -q --queue-provider=emulator "$@"
# The same tests in a child emulator process, as a CI job with a service would get them.
"$python" -m pytest -c pyproject.toml -p no:cacheprovider -q --queue-provider=emulator --queue-emulator=subprocess "$@"
