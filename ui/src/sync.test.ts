import { beforeEach, describe, expect, it, vi } from "vitest";
import type { RefusedChange } from "./api";
import {
  backgroundNotice,
  discardQuestion,
  discardWithConfirmation,
  fieldLabel,
  refusedSubject,
  refusedTable,
  removedTable,
  statusText,
  syncNotice,
  valueText,
} from "./screens/sync";

// only api.ts talks to Rust; here it is a fake that records what it was asked
const discardRefused = vi.hoisted(() => vi.fn());
vi.mock("./api", () => ({ api: { discardRefused } }));

const base = { server: "https://icc.example", server_user: "ana", last_sync: null, pending: 0, conflicts: 0, refused: 0 };

const ID = "0b7e4c1e-8a51-4c8e-9a39-3f1d3c2b9a10";
function refused(over: Partial<RefusedChange> = {}): RefusedChange {
  return {
    op_id: "op-1",
    entity: "invoice",
    entity_id: ID,
    field: "monto_total",
    value: "1190000",
    reason: "la obra «OB-9» no está asignada a «ana»",
    refused_at: "2026-01-15T15:04:05.000Z",
    ...over,
  };
}

describe("sync status line", () => {
  it("says when the computer works alone", () => {
    expect(statusText({ ...base, server: null })).toBe("Sin servidor");
  });
  it("shows pending changes and conflicts with Chilean thousands", () => {
    expect(statusText({ ...base, pending: 1234, conflicts: 2 })).toBe("Sincronizado nunca · 1.234 pendiente(s) · 2 conflicto(s)");
  });
  it("shows the changes the server refused, so they are not missed", () => {
    expect(statusText({ ...base, refused: 3 })).toBe("Sincronizado nunca · 3 rechazado(s)");
  });
  it("says how long ago it synced", () => {
    const ago = new Date(Date.now() - 5 * 60000).toISOString();
    expect(statusText({ ...base, last_sync: ago })).toBe("Sincronizado hace 5 min");
  });
  it("gives an old sync's date and time in Santiago", () => {
    expect(statusText({ ...base, last_sync: "2026-01-15T15:04:05.000Z" })).toBe("Sincronizado el 15-01-2026 12:04");
  });
});

describe("notice after a sync", () => {
  it("says nothing when nothing was refused or removed", () => {
    expect(syncNotice(0, 0)).toBe("");
  });
  it("speaks of one change and one invoice in the singular", () => {
    expect(syncNotice(1, 0)).toBe("El servidor rechazó 1 cambio: revíselo en Sincronización.");
    expect(syncNotice(0, 1)).toBe("1 factura dejó de pertenecer a sus obras y se retiró de este equipo.");
  });
  it("speaks of several in the plural, with Chilean thousands, both at once", () => {
    expect(syncNotice(1200, 2)).toBe(
      "El servidor rechazó 1.200 cambios: revíselos en Sincronización. 2 facturas dejaron de pertenecer a sus obras y se retiraron de este equipo.",
    );
  });
  it("points below when the user is already on the screen", () => {
    expect(syncNotice(2, 0, true)).toBe("El servidor rechazó 2 cambios: revíselos más abajo.");
  });
  it("announces each refused change once across background syncs, and every removal", () => {
    const removed = [{ entity_id: ID, invoice: "76123456-7:33:1234 Áridos Ltda", reason: "obra reasignada", removed_at: "2026-01-15T15:04:05Z" }];
    const a = refused({ op_id: "bg-a" });
    const b = refused({ op_id: "bg-b" });
    expect(backgroundNotice({ refused: [a], removed: [] })).toBe("El servidor rechazó 1 cambio: revíselo en Sincronización.");
    expect(backgroundNotice({ refused: [a], removed: [] }), "still set aside, already told").toBe("");
    expect(backgroundNotice({ refused: [a, b], removed })).toBe(
      "El servidor rechazó 1 cambio: revíselo en Sincronización. 1 factura dejó de pertenecer a sus obras y se retiró de este equipo.",
    );
  });
});

describe("refused changes", () => {
  it("names fields in Spanish words", () => {
    expect(fieldLabel("estado")).toBe("estado");
    expect(fieldLabel("monto_total")).toBe("monto total");
    expect(fieldLabel("_doc")).toBe("factura completa");
    expect(fieldLabel("fecha_vencimiento")).toBe("fecha de vencimiento");
    expect(fieldLabel("centro_costo")).toBe("centro de costo");
    expect(fieldLabel("campo_nuevo"), "a field of a newer version still reads as words").toBe("campo nuevo");
  });
  it("shows values as the user reads them", () => {
    expect(valueText("monto_total", "1190000")).toBe("$1.190.000");
    expect(valueText("estado", '"en_revision"')).toBe("En revisión");
    expect(valueText("fecha_vencimiento", '"2026-03-05"')).toBe("05-03-2026");
    expect(valueText("fecha_recepcion_sii", '"2026-03-05T09:15:00"')).toBe("05-03-2026 09:15");
    expect(valueText("glosa", "null")).toBe("(vacío)");
    expect(valueText("glosa", "no es json")).toBe("no es json");
  });
  it("names the invoice by its key when known, by what a whole invoice carries, else by id", () => {
    const keys = new Map([[ID, "76123456-7:33:1234 Áridos Ltda"]]);
    expect(refusedSubject(refused(), keys)).toBe("76123456-7:33:1234 Áridos Ltda");
    expect(refusedSubject(refused(), new Map())).toBe(`factura ${ID}`);
    const doc = JSON.stringify({ key: { rut_emisor: "96543210-K", tipo_dte: 34, folio: 77 }, razon_social: "Fierros SpA" });
    expect(refusedSubject(refused({ field: "_doc", value: doc }), new Map())).toBe("96543210-K:34:77 Fierros SpA");
    expect(valueText("_doc", doc)).toBe("96543210-K:34:77 Fierros SpA");
    expect(refusedSubject(refused({ entity: "conflict", entity_id: "12", field: "resuelto" }), new Map())).toBe("conflicto N° 12");
  });
  it("lists each change with its date in Santiago time, or says there are none", () => {
    expect(refusedTable([], new Map())).toEqual({ rows: [], empty: "No hay cambios rechazados por el servidor." });
    const t = refusedTable([refused()], new Map([[ID, "76123456-7:33:1234 Áridos Ltda"]]));
    expect(t.empty).toBeNull();
    expect(t.rows).toEqual([
      {
        opId: "op-1",
        subject: "76123456-7:33:1234 Áridos Ltda",
        field: "monto total",
        value: "$1.190.000",
        reason: "la obra «OB-9» no está asignada a «ana»",
        when: "15-01-2026 12:04",
      },
    ]);
  });
  it("lists removed invoices with reason and date, or says there are none", () => {
    expect(removedTable([])).toEqual({ rows: [], empty: "No se ha retirado ninguna factura de este equipo." });
    const t = removedTable([{ entity_id: ID, invoice: "76123456-7:33:1234 Áridos Ltda", reason: "la obra OB-1 ya no es suya", removed_at: "2026-07-15T15:04:05Z" }]);
    expect(t).toEqual({ rows: [{ invoice: "76123456-7:33:1234 Áridos Ltda", reason: "la obra OB-1 ya no es suya", when: "15-07-2026 11:04" }], empty: null });
  });
  it("explains before discarding that the server's value comes back here", () => {
    const q = discardQuestion(refused(), "76123456-7:33:1234 Áridos Ltda");
    expect(q).toContain("«monto total» = $1.190.000 en 76123456-7:33:1234 Áridos Ltda");
    expect(q).toContain("se restaurará el valor que tiene el servidor");
  });
});

describe("discarding a refused change", () => {
  beforeEach(() => {
    discardRefused.mockReset();
  });

  it("does nothing when the user cancels", async () => {
    const ask = vi.fn(async () => false);
    expect(await discardWithConfirmation(refused(), "la factura", ask)).toBeNull();
    expect(ask).toHaveBeenCalledOnce();
    expect(discardRefused, "no answer yes, no discard").not.toHaveBeenCalled();
  });
  it("asks first, then discards that change by its id", async () => {
    const order: string[] = [];
    const ask = vi.fn(async (title: string, text: string, accept: string) => {
      order.push("ask");
      expect([title, accept]).toEqual(["Descartar cambio rechazado", "Descartar cambio"]);
      expect(text).toContain("valor que tiene el servidor");
      return true;
    });
    discardRefused.mockImplementation(async (opId: string) => {
      order.push(`discard ${opId}`);
      return refused({ op_id: opId });
    });
    const done = await discardWithConfirmation(refused({ op_id: "op-7" }), "la factura", ask);
    expect(order).toEqual(["ask", "discard op-7"]);
    expect(done?.op_id).toBe("op-7");
  });
  it("lets the screen show why a discard failed", async () => {
    const failure = { code: "not_found", message: "no existe el cambio rechazado «op-1»" };
    discardRefused.mockImplementation(async () => {
      throw failure;
    });
    const got = await discardWithConfirmation(refused(), "la factura", async () => true).catch((e: unknown) => e);
    expect(got, "the UiError reaches the caller as it came").toBe(failure);
  });
});
