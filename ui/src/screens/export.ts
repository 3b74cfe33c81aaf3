// Exportar: report, filters (from the list or typed here), save dialog, progress, "abrir carpeta".

import { api, chooseSavePath, revealInFolder, type ListFilter } from "../api";
import { errorText, h, say } from "../dom";
import { thousands } from "../format";
import { jobView } from "./jobs";

const REPORTS: Array<[string, string]> = [
  ["facturas", "Facturas (la lista filtrada)"],
  ["libro-compras", "Libro de compras del mes"],
  ["vencimientos", "Vencimientos y antigüedad de deuda"],
  ["por-obra", "Gasto por obra y centro de costo"],
];

function describe(f: ListFilter): string {
  const parts: string[] = [];
  if (f.obra) parts.push(`obra ${f.obra}`);
  if (f.estado) parts.push(`estado ${f.estado}`);
  if (f.proveedor) parts.push(`proveedor ${f.proveedor}`);
  if (f.desde) parts.push(`desde ${f.desde}`);
  if (f.hasta) parts.push(`hasta ${f.hasta}`);
  if (f.vencidas) parts.push("solo vencidas");
  if (f.plazo_por_vencer !== null) parts.push("plazo de reclamo por vencer");
  if (f.q) parts.push(`búsqueda «${f.q}»`);
  if (f.ids) parts.push(`solo las ${f.ids.length} facturas seleccionadas`);
  return parts.length ? parts.join(", ") : "sin filtros (todas las facturas que usted puede ver)";
}

export function exportScreen(filter: ListFilter): HTMLElement {
  const report = h("select", { id: "export-report" }, ...REPORTS.map(([v, l]) => h("option", { value: v }, l)));
  const now = new Date();
  const lastMonth = new Date(now.getFullYear(), now.getMonth() - 1, 1);
  const mes = h("input", {
    id: "export-mes",
    placeholder: "AAAA-MM",
    size: 8,
    value: `${lastMonth.getFullYear()}-${String(lastMonth.getMonth() + 1).padStart(2, "0")}`,
  });
  const mesWrap = h("label", { class: "field", hidden: true }, h("span", {}, "Mes del libro (AAAA-MM)"), mes);
  const out = h("input", { id: "export-path", size: 60, placeholder: "Ruta del archivo (.xlsx o .csv)" });
  const msg = h("p", { class: "msg", hidden: true, role: "alert", id: "export-msg" });
  const job = jobView();
  let lastPath = "";
  const openFolder = h(
    "button",
    { type: "button", id: "export-open", hidden: true, onclick: () => revealInFolder(lastPath).catch((e) => say(msg, errorText(e))) },
    "Abrir carpeta",
  );
  report.addEventListener("change", () => (mesWrap.hidden = report.value !== "libro-compras"));
  const go = async () => {
    say(msg, "");
    openFolder.hidden = true;
    let path = out.value.trim();
    if (!path) {
      const chosen = await chooseSavePath(`${report.value}.xlsx`).catch(() => null);
      if (!chosen) return;
      path = chosen;
      out.value = chosen;
    }
    try {
      const r = await job.run((id) =>
        api.exportReport(id, {
          report: report.value,
          out: path,
          mes: report.value === "libro-compras" ? mes.value.trim() : null,
          filter,
        }),
      );
      lastPath = r.path;
      say(msg, `Informe guardado en ${r.path}: ${thousands(r.documents)} documento(s).`, "ok");
      openFolder.hidden = false;
    } catch (e) {
      say(msg, errorText(e));
    }
  };
  return h(
    "section",
    { class: "screen export" },
    h("h1", {}, "Exportar informe"),
    h("label", { class: "field" }, h("span", {}, "Informe"), report),
    mesWrap,
    h("p", { id: "export-filters" }, `Filtros: ${describe(filter)}. Para cambiarlos, ajuste la lista de facturas y vuelva a «Exportar lista…».`),
    h(
      "div",
      { class: "toolbar" },
      out,
      h(
        "button",
        {
          type: "button",
          onclick: async () => {
            const p = await chooseSavePath(`${report.value}.xlsx`).catch(() => null);
            if (p) out.value = p;
          },
        },
        "Elegir…",
      ),
    ),
    h("div", { class: "toolbar" }, h("button", { type: "button", class: "primary", id: "export-go", onclick: go }, "Exportar"), openFolder),
    job.el,
    msg,
  );
}
