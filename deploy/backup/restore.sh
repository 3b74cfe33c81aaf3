#!/usr/bin/env bash
# Restores a dump made by backup.sh into the database of DATABASE_URL, in one transaction:
# the dump is checked first (pg_restore --list), and a failure leaves the database as it was.
#
#   DATABASE_URL=postgres://icc@db/icc deploy/backup/restore.sh /backups/icc-20261128-030000.dump
#
# Stop icc-server first (or point it at the restored database afterwards).
set -euo pipefail

die() { printf 'error: %s\n' "$*" >&2; exit 1; }

file="${1:-}"
[ -n "$file" ] || die "indique el archivo de respaldo: restore.sh ARCHIVO.dump"
[ -f "$file" ] || die "no existe el respaldo $file"
url="${DATABASE_URL:-}"
if [ -z "$url" ] && [ -n "${DATABASE_URL_FILE:-}" ]; then
    url=$(tr -d '\r\n' < "$DATABASE_URL_FILE") || die "no se pudo leer DATABASE_URL_FILE"
fi
[ -n "$url" ] || die "falta DATABASE_URL (o DATABASE_URL_FILE)"
# the password may come apart, as the compose file's Docker secret
if [ -n "${DATABASE_PASSWORD_FILE:-}" ]; then
    PGPASSWORD=$(tr -d '\r\n' < "$DATABASE_PASSWORD_FILE") || die "no se pudo leer DATABASE_PASSWORD_FILE"
    export PGPASSWORD
elif [ -n "${DATABASE_PASSWORD:-}" ]; then
    export PGPASSWORD="$DATABASE_PASSWORD"
fi
pg_restore --list "$file" >/dev/null 2>&1 || die "$file no es un respaldo válido de pg_dump; no se cambió nada"
pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction --exit-on-error -d "$url" "$file" \
    || die "la restauración falló; la base quedó como estaba (una sola transacción)"
printf 'restaurado: %s\n' "$file"
