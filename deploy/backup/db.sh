# Sourced by backup.sh and restore.sh: the database to use, from DATABASE_URL or
# DATABASE_URL_FILE, and its password when it comes apart (DATABASE_PASSWORD_FILE, the compose
# file's Docker secret, or DATABASE_PASSWORD), exported as PGPASSWORD. Sets `url`.
url="${DATABASE_URL:-}"
if [ -z "$url" ] && [ -n "${DATABASE_URL_FILE:-}" ]; then
    url=$(tr -d '\r\n' < "$DATABASE_URL_FILE") || die "no se pudo leer DATABASE_URL_FILE"
fi
[ -n "$url" ] || die "falta DATABASE_URL (o DATABASE_URL_FILE), por ejemplo postgres://icc@db:5432/icc"
if [ -n "${DATABASE_PASSWORD_FILE:-}" ]; then
    PGPASSWORD=$(tr -d '\r\n' < "$DATABASE_PASSWORD_FILE") || die "no se pudo leer DATABASE_PASSWORD_FILE"
    export PGPASSWORD
elif [ -n "${DATABASE_PASSWORD:-}" ]; then
    export PGPASSWORD="$DATABASE_PASSWORD"
fi
