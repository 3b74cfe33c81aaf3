import { describe, expect, it } from "vitest";
import type { Envio, PostReport } from "./api";
import { resultRows, retryIds, summaryText } from "./screens/kame";

const envio = (invoice_id: string, estado: string): Envio => ({
  invoice_id,
  documento: `76123456-0:33:${invoice_id}`,
  estado,
  comprobante: "{}",
  kame_id: null,
  intentos: 1,
  error: null,
  recuperado: false,
  updated_at: "2026-12-03T10:00:00Z",
  updated_by: "conta",
});

describe("Contabilidad (Kame)", () => {
  it("retries every invoice not posted, and only those", () => {
    const all = [envio("a", "publicado"), envio("b", "enviando"), envio("c", "rechazado"), envio("d", "no_enviado")];
    expect(retryIds(all)).toEqual(["b", "c", "d"]);
    expect(retryIds([envio("a", "publicado")])).toEqual([]);
  });
  it("summarises a run in Chilean numbers and lists what needs a look", () => {
    const r: PostReport = {
      resultados: [
        { id: "a", documento: "x", resultado: "publicado", kame_id: "9", mensaje: null },
        { id: "b", documento: "y", resultado: "ya_publicado", kame_id: "3", mensaje: null },
        { id: "c", documento: "z", resultado: "rechazado", kame_id: null, mensaje: "sin cuenta" },
      ],
      publicadas: 1200,
      ya_publicadas: 1,
      rechazadas: 1,
      pendientes: 0,
    };
    expect(summaryText(r)).toBe("1.200 contabilizadas, 1 ya estaban, 1 rechazadas, 0 pendientes.");
    expect(resultRows(r).map((x) => x.id)).toEqual(["a", "c"]);
  });
});
