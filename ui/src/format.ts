// Chilean (es-CL) display of what Rust sends: pesos, dates, RUTs. Display only: amounts,
// deadlines and states are computed in Rust and arrive ready.

/** `1234567` → `$1.234.567`; negatives `-$1.234`. Integers only: pesos have no decimals. */
export function clp(pesos: number): string {
  if (!Number.isFinite(pesos)) return "";
  const neg = pesos < 0;
  const digits = Math.trunc(Math.abs(pesos)).toString();
  const grouped = digits.replace(/\B(?=(\d{3})+(?!\d))/g, ".");
  return `${neg ? "-" : ""}$${grouped}`;
}

/** `1234567` → `1.234.567`. */
export function thousands(n: number): string {
  const neg = n < 0;
  const digits = Math.trunc(Math.abs(n)).toString();
  return (neg ? "-" : "") + digits.replace(/\B(?=(\d{3})+(?!\d))/g, ".");
}

/** `2026-10-05` (or an ISO timestamp) → `05-10-2026`; anything else unchanged. */
export function fecha(iso: string | null | undefined): string {
  if (!iso) return "";
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(iso);
  return m ? `${m[3]}-${m[2]}-${m[1]}` : iso;
}

/** `2026-10-05T14:03:00` → `05-10-2026 14:03`. */
export function fechaHora(iso: string | null | undefined): string {
  if (!iso) return "";
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})/.exec(iso);
  return m ? `${m[3]}-${m[2]}-${m[1]} ${m[4]}:${m[5]}` : fecha(iso);
}

const SANTIAGO = new Intl.DateTimeFormat("es-CL", {
  timeZone: "America/Santiago",
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23",
});

/** A UTC instant (`2026-01-15T15:04:05.000Z`) → Santiago wall time `15-01-2026 12:04`,
 *  whatever zone this computer is set to; anything unreadable unchanged. */
export function fechaHoraChile(utc: string | null | undefined): string {
  if (!utc) return "";
  const d = new Date(utc);
  if (Number.isNaN(d.getTime())) return utc;
  const part: Record<string, string> = {};
  for (const p of SANTIAGO.formatToParts(d)) part[p.type] = p.value;
  return `${part.day}-${part.month}-${part.year} ${part.hour}:${part.minute}`;
}

/** Canonical `76123456-7` → display `76.123.456-7`. */
export function rut(canonical: string): string {
  const m = /^(\d+)-([\dkK])$/.exec(canonical.trim());
  if (!m) return canonical;
  return `${thousands(Number(m[1]))}-${m[2].toUpperCase()}`;
}

/** `dd-mm-aaaa` typed by a person → `aaaa-mm-dd`, or the text unchanged (Rust validates). */
export function isoFromChilean(text: string): string {
  const m = /^(\d{1,2})[-/](\d{1,2})[-/](\d{4})$/.exec(text.trim());
  if (!m) return text.trim();
  return `${m[3]}-${m[2].padStart(2, "0")}-${m[1].padStart(2, "0")}`;
}

export const ESTADOS: Array<[string, string]> = [
  ["recibida", "Recibida"],
  ["en_revision", "En revisión"],
  ["aprobada", "Aprobada"],
  ["rechazada", "Rechazada"],
  ["parcialmente_pagada", "Parcialmente pagada"],
  ["pagada", "Pagada"],
  ["anulada", "Anulada"],
];

export function estadoLabel(code: string): string {
  return ESTADOS.find(([c]) => c === code)?.[1] ?? code;
}

export const PLAZO_LABELS: Record<string, string> = {
  vigente: "vigente",
  por_vencer: "por vencer",
  vencido: "vencido",
  desconocido: "plazo desconocido",
  no_aplica: "no aplica",
};
