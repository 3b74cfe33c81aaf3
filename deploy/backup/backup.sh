#!/usr/bin/env bash
# Backs up the central server's PostgreSQL database with pg_dump -Fc, verifies the dump with
# pg_restore --list, and rotates old dumps like the laptops do: the newest of each of the
# last 7 days, 4 ISO weeks and 12 months are kept.
#
#   DATABASE_URL=postgres://icc@db/icc BACKUP_DIR=/backups deploy/backup/backup.sh
#   deploy/backup/backup.sh --rotate-only      # rotation alone (tests, manual cleanup)
#
# DATABASE_URL may also come from DATABASE_URL_FILE. Dumps are named icc-AAAAMMDD-HHMMSS.dump
# (UTC); a dump is written as a hidden .partial file and renamed only once verified, so an
# interrupted run never leaves a dump that looks good.
set -euo pipefail

die() { printf 'error: %s\n' "$*" >&2; exit 1; }

dir="${BACKUP_DIR:-}"
[ -n "$dir" ] || die "falta BACKUP_DIR: la carpeta donde guardar los respaldos"
mkdir -p "$dir" || die "no se pudo crear $dir"

rotate() {
    # newest first; the name carries the UTC time
    local files=() f name day week month
    mapfile -t files < <(ls -1 "$dir" 2>/dev/null | grep -E '^icc-[0-9]{8}-[0-9]{6}\.dump$' | sort -r)
    declare -A keep_day=() keep_week=() keep_month=() keep=()
    local days=0 weeks=0 months=0
    for f in "${files[@]}"; do
        name="${f#icc-}"; day="${name:0:8}"
        week=$(date -u -d "$day" +%G-%V)
        month="${day:0:6}"
        if [ -z "${keep_day[$day]:-}" ] && [ $days -lt 7 ]; then keep_day[$day]=1; days=$((days + 1)); keep[$f]=1; fi
        if [ -z "${keep_week[$week]:-}" ] && [ $weeks -lt 4 ]; then keep_week[$week]=1; weeks=$((weeks + 1)); keep[$f]=1; fi
        if [ -z "${keep_month[$month]:-}" ] && [ $months -lt 12 ]; then keep_month[$month]=1; months=$((months + 1)); keep[$f]=1; fi
    done
    for f in "${files[@]}"; do
        if [ -z "${keep[$f]:-}" ]; then
            rm -f -- "$dir/$f"
            printf 'rotado: %s\n' "$f"
        fi
    done
}

if [ "${1:-}" = "--rotate-only" ]; then
    rotate
    exit 0
fi

# shellcheck source=deploy/backup/db.sh
source "$(dirname "$0")/db.sh"
command -v pg_dump >/dev/null || die "falta pg_dump (paquete postgresql-client)"

stamp=$(date -u +%Y%m%d-%H%M%S)
final="$dir/icc-$stamp.dump"
partial="$dir/.icc-$stamp.dump.partial"
trap 'rm -f -- "$partial"' EXIT
pg_dump -Fc --no-owner --no-privileges -d "$url" -f "$partial" || die "pg_dump falló; no se escribió ningún respaldo"
pg_restore --list "$partial" >/dev/null || die "el respaldo recién escrito no se puede leer; se descartó"
mv -- "$partial" "$final"
trap - EXIT
printf 'respaldo: %s (%s bytes)\n' "$final" "$(stat -c %s "$final")"
rotate
