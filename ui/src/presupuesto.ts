// Pure helpers of the Presupuesto and Tesorería screens: typed pesos, week labels, the
// series the charts draw. Amounts and grids are computed in Rust; these only arrange them.

import type { GridRow, ObraGrid, TreasuryGrid } from "./api";

/** A typed amount (`1.234.567`, `$ 1.234.567`, `-500.000`) → pesos, or null when it is not one. */
export function pesosFromText(text: string): number | null {
  const t = text.trim().replace(/^\$\s*/, "").replace(/\s/g, "");
  const m = /^(-?)\$?(\d{1,3}(?:\.\d{3})+|\d+)$/.exec(t);
  if (!m) return null;
  const n = Number(m[2].replace(/\./g, ""));
  if (!Number.isSafeInteger(n)) return null;
  return m[1] === "-" ? -n : n;
}

/** `2026-11-30` → `30-11`: a week's column, by its Monday. */
export function weekLabel(monday: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(monday);
  return m ? `${m[3]}-${m[2]}` : monday;
}

/** The Monday (`aaaa-mm-dd`) of the week `d` falls in, `offsetWeeks` later. */
export function mondayOf(d: Date, offsetWeeks = 0): string {
  const x = new Date(d.getFullYear(), d.getMonth(), d.getDate());
  const back = (x.getDay() + 6) % 7;
  x.setDate(x.getDate() - back + 7 * offsetWeeks);
  return `${x.getFullYear()}-${String(x.getMonth() + 1).padStart(2, "0")}-${String(x.getDate()).padStart(2, "0")}`;
}

/** The CSS class of an amount: negatives are shown red. */
export function signClass(n: number | null): string {
  return n !== null && n < 0 ? "neg" : "";
}

/** Rows the planned-vs-actual chart compares: the lines and the unmapped spend. */
export function chartRows(grid: ObraGrid): GridRow[] {
  return grid.filas.filter((r) => r.kind === "linea" || r.kind === "sin_partida");
}

/** Labels and series of the planned-vs-actual chart of an obra. */
export function budgetSeries(grid: ObraGrid): { labels: string[]; vigente: number[]; plan: number[]; real: number[] } {
  const rows = chartRows(grid);
  return {
    labels: rows.map((r) => r.nombre),
    vigente: rows.map((r) => r.vigente),
    plan: rows.map((r) => r.plan_total),
    real: rows.map((r) => r.real_total),
  };
}

/** Labels and series of the treasury balance chart: the total and each account. */
export function balanceSeries(grid: TreasuryGrid): { labels: string[]; series: Array<{ name: string; data: Array<number | null> }> } {
  return {
    labels: grid.semanas.map(weekLabel),
    series: [
      { name: "Saldo total", data: grid.saldo_total },
      ...grid.bancos.map((b) => ({ name: b.nombre, data: b.saldos })),
    ],
  };
}

/** Why a row of the obra grid looks as it does. */
export function rowClass(r: GridRow): string {
  if (r.kind === "total") return "grid-total";
  if (r.kind === "familia") return "grid-family";
  if (r.kind === "sin_partida") return "grid-unmapped";
  return "";
}
