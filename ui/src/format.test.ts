import { describe, expect, it } from "vitest";
import { clp, estadoLabel, fecha, fechaHora, fechaHoraChile, isoFromChilean, rut, thousands } from "./format";

describe("es-CL formats", () => {
  it("formats pesos with dots and a sign", () => {
    expect(clp(0)).toBe("$0");
    expect(clp(999)).toBe("$999");
    expect(clp(1234567)).toBe("$1.234.567");
    expect(clp(-119000)).toBe("-$119.000");
    expect(clp(Number.NaN)).toBe("");
    expect(thousands(1000000)).toBe("1.000.000");
  });
  it("shows dates day first", () => {
    expect(fecha("2026-10-05")).toBe("05-10-2026");
    expect(fecha("2026-10-05T14:03:00")).toBe("05-10-2026");
    expect(fecha("desconocido")).toBe("desconocido");
    expect(fecha(null)).toBe("");
    expect(fechaHora("2026-10-05T14:03:59")).toBe("05-10-2026 14:03");
  });
  it("shows UTC instants in Santiago time, summer and winter", () => {
    // Chile is UTC-3 in January (summer time) and UTC-4 in July
    expect(fechaHoraChile("2026-01-15T15:04:05.000Z")).toBe("15-01-2026 12:04");
    expect(fechaHoraChile("2026-07-15T15:04:05.000Z")).toBe("15-07-2026 11:04");
    expect(fechaHoraChile("2026-07-01T02:30:00Z")).toBe("30-06-2026 22:30");
    expect(fechaHoraChile("ayer")).toBe("ayer");
    expect(fechaHoraChile(null)).toBe("");
  });
  it("shows RUTs with dots and an uppercase K", () => {
    expect(rut("76123456-7")).toBe("76.123.456-7");
    expect(rut("9876543-k")).toBe("9.876.543-K");
    expect(rut("not a rut")).toBe("not a rut");
  });
  it("reads Chilean dates typed by people", () => {
    expect(isoFromChilean("5-10-2026")).toBe("2026-10-05");
    expect(isoFromChilean("05/10/2026")).toBe("2026-10-05");
    expect(isoFromChilean("2026-10-05")).toBe("2026-10-05");
  });
  it("labels states in Spanish", () => {
    expect(estadoLabel("en_revision")).toBe("En revisión");
    expect(estadoLabel("otro")).toBe("otro");
  });
});
