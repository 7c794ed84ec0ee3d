#!/usr/bin/env bash
# Installs what the real-workbench tests and the demo need, per ../shared/design/testing.md:
#   - Debian packages: chromium (the browser Playwright drives), ripgrep (code-server's search, and the
#     tarball its @vscode/ripgrep would otherwise download), libkrb5-dev (code-server's kerberos module),
#     bubblewrap (the agent's command sandbox), postgresql (the broker's second storage backend, tested for real),
#     nats-server (the bus between broker nodes, tested for real);
#   - code-server 4.100.3 (= VS Code 1.100.3, which runs on Node 20) into .code-server/ (git-ignored).
# Idempotent: each part is skipped when it is already there. Nothing is downloaded but from apt and npm.
#
#   scripts/code-server/install.sh            # CODE_SERVER_PREFIX overrides the folder
set -euo pipefail

VERSION=4.100.3
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PREFIX="${CODE_SERVER_PREFIX:-$ROOT/.code-server}"
BIN="$PREFIX/node_modules/.bin/code-server"
START=$SECONDS

step() { printf '[code-server install] %s\n' "$*"; }

# 1. Debian packages (as root, or through sudo when there is one).
need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v rg >/dev/null 2>&1 || need_apt+=(ripgrep)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need_apt+=(libkrb5-dev)
# The agent confines every command with bubblewrap (issue 14); the tests run it for real.
command -v bwrap >/dev/null 2>&1 || need_apt+=(bubblewrap)
# The broker's PostgreSQL backend (issue 20) is tested against a real server each test starts on loopback.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_apt+=(postgresql)
# The cluster bus between broker nodes (issue 20) is tested against a real nats-server each test starts on loopback.
[ -x /usr/sbin/nats-server ] || need_apt+=(nats-server)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { step "need root (or sudo) to apt-get install ${need_apt[*]}"; exit 1; }
    SUDO=sudo
  fi
  step "apt-get install ${need_apt[*]}"
  t=$SECONDS
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  step "apt done in $((SECONDS - t)) s"
else
  step "apt packages already installed (chromium, ripgrep, libkrb5-dev, bubblewrap, postgresql, nats-server)"
fi

# 2. code-server, unless this version is already in the prefix.
# --config: without one, code-server writes a default (password) config into ~/.config on first run.
CONFIG="$PREFIX/config.yaml"
version_line() { [ -x "$BIN" ] && "$BIN" --config "$CONFIG" --version 2>/dev/null | grep -m 1 -E '^[0-9]+\.[0-9]+\.[0-9]+ ' || true; }
mkdir -p "$PREFIX"
[ -f "$CONFIG" ] || printf 'auth: none\n' > "$CONFIG"
if version_line | grep -q "^$VERSION "; then
  step "code-server $VERSION already in $PREFIX"
else
  t=$SECONDS
  mkdir -p "$PREFIX/tmp"
  # Without a package.json of its own, npm would walk up and install into the project's.
  [ -f "$PREFIX/package.json" ] || printf '{ "name": "vaultysclaw-code-server", "private": true }\n' > "$PREFIX/package.json"

  # @vscode/ripgrep's postinstall looks in $TMPDIR/vscode-ripgrep-cache-<its version>/ before downloading:
  # hand it Debian's rg in the tarball it expects.
  case "$(uname -m)" in
    x86_64) RG_TARGET=x86_64-unknown-linux-musl ;;
    aarch64 | arm64) RG_TARGET=aarch64-unknown-linux-musl ;;
    *) step "no ripgrep tarball name known for $(uname -m)"; exit 1 ;;
  esac
  RG_CACHE="$PREFIX/tmp/vscode-ripgrep-cache-1.15.11"
  mkdir -p "$RG_CACHE"
  tar czf "$RG_CACHE/ripgrep-v13.0.0-10-$RG_TARGET.tar.gz" -C "$(dirname "$(command -v rg)")" rg

  step "npm install code-server@$VERSION into $PREFIX (about 2 minutes cold)"
  # npm_config_yes: node-pty's build runs `npx node-gyp`, which a `yes=false` npm config cancels.
  # Scripts stay on: native modules (argon2, node-pty, …) must be built.
  (
    cd "$PREFIX"
    TMPDIR="$PREFIX/tmp" npm_config_unsafe_perm=true npm_config_yes=true npm_config_nodedir="${npm_config_nodedir:-/usr}" \
      npm install "code-server@$VERSION" --foreground-scripts --no-audit --no-fund --loglevel=error >"$PREFIX/install.log" 2>&1
  ) || { step "npm install failed; the last lines of $PREFIX/install.log:"; tail -n 40 "$PREFIX/install.log"; exit 1; }
  step "code-server installed in $((SECONDS - t)) s"
fi

VERSION_LINE="$(version_line)"
case "$VERSION_LINE" in
  "$VERSION "*) ;;
  *) step "unexpected code-server version: $VERSION_LINE"; exit 1 ;;
esac
step "code-server --version: $VERSION_LINE"
step "chromium: $(chromium --version 2>/dev/null | head -n 1)"
step "done in $((SECONDS - START)) s"
