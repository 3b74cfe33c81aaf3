import { describe, expect, it } from "vitest";
import type { GridRow, ObraGrid, TreasuryGrid } from "./api";
import { balanceSeries, budgetSeries, mondayOf, pesosFromText, rowClass, signClass, weekLabel } from "./presupuesto";

function row(kind: string, nombre: string, vigente: number, plan: number, real: number): GridRow {
  return {
    id: kind === "linea" ? nombre : null,
    kind,
    familia: "SUBCONTRATO",
    nombre,
    inicial: vigente,
    modificaciones: 0,
    vigente,
    plan: [plan],
    real: [real],
    pagado: [0],
    plan_total: plan,
    real_total: real,
    pagado_total: 0,
    variacion: vigente - real,
  };
}

describe("typed amounts", () => {
  it("reads Chilean pesos and refuses anything else", () => {
    expect(pesosFromText("1.500.000")).toBe(1_500_000);
    expect(pesosFromText("$ 1.500.000")).toBe(1_500_000);
    expect(pesosFromText("-500.000")).toBe(-500_000);
    expect(pesosFromText("2500")).toBe(2500);
    expect(pesosFromText("1,5")).toBeNull();
    expect(pesosFromText("1.50")).toBeNull();
    expect(pesosFromText("")).toBeNull();
    expect(pesosFromText("abc")).toBeNull();
    expect(pesosFromText("99999999999999999999")).toBeNull();
  });
});

describe("weeks", () => {
  it("start on Monday", () => {
    expect(mondayOf(new Date(2026, 11, 6))).toBe("2026-11-30"); // a Sunday
    expect(mondayOf(new Date(2026, 10, 30))).toBe("2026-11-30");
    expect(mondayOf(new Date(2026, 11, 3), -2)).toBe("2026-11-16");
    expect(weekLabel("2026-11-30")).toBe("30-11");
  });
});

describe("charts and styles", () => {
  it("compare lines and unmapped spend, not subtotals", () => {
    const grid: ObraGrid = {
      obra: "OB-1",
      semanas: ["2026-11-30"],
      filas: [
        row("linea", "Moldajes", 100, 60, 80),
        row("familia", "SUBCONTRATO", 100, 60, 80),
        row("sin_partida", "Sin partida", 0, 0, 5),
        row("total", "TOTAL", -100, -60, -85),
      ],
    };
    expect(budgetSeries(grid)).toEqual({ labels: ["Moldajes", "Sin partida"], vigente: [100, 0], plan: [60, 0], real: [80, 5] });
    expect(grid.filas.map(rowClass)).toEqual(["", "grid-family", "grid-unmapped", "grid-total"]);
    expect(signClass(-1)).toBe("neg");
    expect(signClass(0)).toBe("");
    expect(signClass(null)).toBe("");
  });

  it("draw the total balance first, then each account, gaps kept", () => {
    const g: TreasuryGrid = {
      semanas: ["2026-11-23", "2026-11-30"],
      filas: [],
      neto: [0, 0],
      bancos: [{ id: "b", nombre: "Santander", saldos: [null, -200] }],
      saldo_total: [null, -200],
    };
    expect(balanceSeries(g)).toEqual({
      labels: ["23-11", "30-11"],
      series: [
        { name: "Saldo total", data: [null, -200] },
        { name: "Santander", data: [null, -200] },
      ],
    });
  });
});
