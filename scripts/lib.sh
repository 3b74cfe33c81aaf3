# Shared helpers for scripts/*. Source it; it changes nothing by itself.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The build cache lives outside the clone so fresh clones (CI) reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/icc-facturas/target}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "se necesita root para: $*"; fi
}

_apt_updated=0
# ensure_apt PKG... : installs the Debian packages that are missing (nothing when all are there).
ensure_apt() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null || die "faltan paquetes (${missing[*]}) y este sistema no tiene apt-get; instálelos a mano"
    say "installing ${missing[*]}"
    if [ $_apt_updated -eq 0 ]; then as_root apt-get update -qq; _apt_updated=1; fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_rust() {
    command -v cargo >/dev/null || die "cargo is missing: install Rust with rustup (https://rustup.rs) and run again"
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt >/dev/null 2>&1 || true
}

# Build tools every crate needs.
ensure_build_deps() {
    # libdbus-1-dev: the keyring crate's Secret Service backend, linked by icc-app
    ensure_apt build-essential pkg-config ca-certificates libdbus-1-dev
    ensure_rust
}

# ensure_postgres: exports ICC_TEST_DATABASE_URL pointing at a reachable PostgreSQL server
# (user postgres, trust auth). Uses the one on 127.0.0.1:5432 when it answers, otherwise
# starts a throwaway cluster on a free port that is stopped when the calling script exits.
ensure_postgres() {
    ensure_apt postgresql postgresql-client
    if pg_isready -q -h 127.0.0.1 -p 5432 && psql -h 127.0.0.1 -U postgres -tAc 'select 1' >/dev/null 2>&1; then
        export ICC_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
        return 0
    fi
    local bin; bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -x "$bin/initdb" ] || die "PostgreSQL server binaries not found under /usr/lib/postgresql"
    local port; port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    PG_TMP=$(mktemp -d /tmp/icc-pg.XXXXXX)
    chmod 755 "$PG_TMP"
    local run=()
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$PG_TMP"; run=(runuser -u postgres --); fi
    say "starting a throwaway PostgreSQL on 127.0.0.1:$port"
    "${run[@]}" "$bin/initdb" -D "$PG_TMP/data" -U postgres --auth=trust >/dev/null
    "${run[@]}" "$bin/pg_ctl" -D "$PG_TMP/data" -o "-p $port -k $PG_TMP -c listen_addresses=127.0.0.1" -l "$PG_TMP/log" -w start >/dev/null
    PG_STOP=("${run[@]}" "$bin/pg_ctl" -D "$PG_TMP/data" -m fast -w stop)
    trap 'if [ -n "${PG_STOP:-}" ]; then "${PG_STOP[@]}" >/dev/null 2>&1; rm -rf "$PG_TMP"; fi' EXIT
    export ICC_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

# What the desktop app (Tauri, WebKitGTK) needs to build and to run in a virtual display.
ensure_desktop_deps() {
    ensure_apt libwebkit2gtk-4.1-dev libjavascriptcoregtk-4.1-dev libsoup-3.0-dev libgtk-3-dev \
        libayatana-appindicator3-dev librsvg2-dev libxdo-dev libssl-dev libdbus-1-dev file \
        xvfb xauth webkit2gtk-driver dbus fonts-dejavu-core
}

# The Secret Service the keyring crate uses on Linux, for tests (scripts/with-keyring).
ensure_keyring_deps() {
    ensure_apt dbus gnome-keyring libdbus-1-dev libsecret-tools
}

# Node.js with npm, and the UI's packages as package-lock.json pins them.
ensure_ui_deps() {
    command -v npm >/dev/null || ensure_apt nodejs npm
    if [ ! -d "$ROOT/ui/node_modules" ] || [ "$ROOT/ui/package-lock.json" -nt "$ROOT/ui/node_modules/.package-lock.json" ]; then
        say "installing the UI's npm packages"
        npm --prefix "$ROOT/ui" ci --no-audit --no-fund --loglevel=error
    fi
}

# tauri-driver, the WebDriver bridge for end-to-end tests (cargo install, about a minute).
ensure_tauri_driver() {
    command -v tauri-driver >/dev/null && return 0
    say "installing tauri-driver"
    cargo install tauri-driver --locked --quiet
}
