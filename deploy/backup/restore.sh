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
# shellcheck source=deploy/backup/db.sh
source "$(dirname "$0")/db.sh"
pg_restore --list "$file" >/dev/null 2>&1 || die "$file no es un respaldo válido de pg_dump; no se cambió nada"
pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction --exit-on-error -d "$url" "$file" \
    || die "la restauración falló; la base quedó como estaba (una sola transacción)"
printf 'restaurado: %s\n' "$file"
