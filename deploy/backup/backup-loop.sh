#!/usr/bin/env bash
# The compose file's backup service: runs backup.sh once a day at BACKUP_AT (UTC, HH:MM).
# A failed backup is logged and retried the next day; earlier dumps are never touched by a
# failure (backup.sh writes .partial files and renames only verified dumps).
set -uo pipefail
at="${BACKUP_AT:-03:15}"
[[ "$at" =~ ^([01][0-9]|2[0-3]):[0-5][0-9]$ ]] || { echo "error: BACKUP_AT=$at no es HH:MM" >&2; exit 2; }
here="$(cd "$(dirname "$0")" && pwd)"
while true; do
    now=$(date -u +%s)
    next=$(date -u -d "today $at" +%s)
    [ "$next" -gt "$now" ] || next=$(date -u -d "tomorrow $at" +%s)
    echo "próximo respaldo: $(date -u -d "@$next" '+%Y-%m-%d %H:%M UTC')"
    sleep $((next - now))
    if bash "$here/backup.sh"; then
        echo "respaldo listo"
    else
        echo "error: el respaldo falló; se reintenta mañana (los respaldos anteriores siguen intactos)" >&2
    fi
done
