#!/usr/bin/env bash
# Install the real Claude Code (npm @anthropic-ai/claude-code) for tests/hooks/test_real_claude_code.py,
# cached under ${CCS_CACHE_DIR:-~/.cache/agent-coherence}/claude-code-<version>. Since 2.x the package
# ships a native binary (no Node >= 22 needed at run time; npm only installs it).
set -euo pipefail
VERSION=2.1.197  # keep in step with VERSION in tests/hooks/test_real_claude_code.py
dir="${CCS_CACHE_DIR:-$HOME/.cache/agent-coherence}/claude-code-$VERSION"
if "$dir/node_modules/.bin/claude" --version >/dev/null 2>&1; then exit 0; fi
command -v npm >/dev/null || { echo "claude-code.sh: npm is missing (.ci/services.sh installs it)" >&2; exit 1; }
mkdir -p "$dir"
npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "@anthropic-ai/claude-code@$VERSION"
# npm >= 11 skips install scripts unless allowed; the wrapper's postinstall only puts the native
# binary in place of bin/claude.exe, which is run here if the placeholder is still there.
if ! "$dir/node_modules/.bin/claude" --version >/dev/null 2>&1; then
  (cd "$dir/node_modules/@anthropic-ai/claude-code" && node install.cjs)
fi
"$dir/node_modules/.bin/claude" --version
