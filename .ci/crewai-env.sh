#!/usr/bin/env bash
# Print the path of the CrewAI test venv, building it first if it is missing.
#
# CrewAI gets its own environment: it pins openai<3 and pydantic<2.13, which cannot share one with
# openai-agents >= 0.21, and it weighs ~1 GB. The venv lives OUTSIDE the checkout, under
# ${CCS_CACHE_DIR:-~/.cache/agent-coherence}, named by a hash of what decides its contents (the
# core dependencies, the crewai and test extras, this script), so fresh clones on this machine
# (CI runs on one) reuse it; a change to any of those builds a new one beside it. The project
# itself is installed editable from the current checkout when it points elsewhere (seconds, no
# resolution).
# Progress goes to stderr; stdout is only the venv path.
set -euo pipefail
checkout="$(cd "$(dirname "$0")/.." && pwd)"
py="${PY:-python3}"
cache="${CCS_CACHE_DIR:-$HOME/.cache/agent-coherence}"

# The lines of pyproject.toml that decide the venv's third-party contents, and this script.
key="$(
  { sed -n '/^dependencies = /p; /^crewai = /p; /^test = \[/,/^\]/p' "$checkout/pyproject.toml"
    "$py" -c 'import sys; print(sys.version_info[:2])'
    cat "$0"; } | sha256sum | cut -c1-12
)"
venv="$cache/venv-crewai-$key"
mkdir -p "$cache"

exec 9>"$venv.lock"
flock 9   # one builder at a time; others wait, then find it ready

if [ ! -f "$venv/.ready" ]; then
  rm -rf "$venv"
  start=$(date +%s)
  echo "crewai-env: building $venv (~1 GB, about a minute)" >&2
  "$py" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip >&2
  "$venv/bin/pip" install -q -e "$checkout[crewai,test]" >&2
  touch "$venv/.ready"
  echo "crewai-env: built in $(( $(date +%s) - start )) s" >&2
elif ! grep -qxF "$checkout/src" "$venv"/lib/python*/site-packages/_editable_impl_agent_coherence.pth 2>/dev/null; then
  # Point the editable install at this checkout (its deps are already in the venv). `make
  # test-crewai` also puts this checkout's src first on PYTHONPATH, so two checkouts sharing the
  # venv at once each test their own code.
  "$venv/bin/pip" install -q --no-deps -e "$checkout" >&2
fi
touch "$venv/.ready"   # last use: venvs of other hashes unused for a week are removed
find "$cache" -maxdepth 2 -path "$cache/venv-crewai-*/.ready" -mtime +7 2>/dev/null |
  while read -r stale; do rm -rf "$(dirname "$stale")" "$(dirname "$stale").lock"; done
echo "$venv"
