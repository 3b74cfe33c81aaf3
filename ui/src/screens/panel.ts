// Panel: gasto por obra, antigüedad de deuda and plazos de reclamo as bar charts; each
// bar with a count opens the list filtered to its documents (where the list can).

import { api, type ListFilter } from "../api";
import { errorText, h } from "../dom";
import { clp, fecha, thousands } from "../format";

interface Bar {
  label: string;
  value: number;
  text: string;
  filtro: ListFilter | null;
  id: string;
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** Horizontal bars scaled to the largest value; clicking one opens its list. */
export function barChart(title: string, bars: Bar[], open: (f: ListFilter) => void): HTMLElement {
  const max = Math.max(1, ...bars.map((b) => Math.abs(b.value)));
  const rowH = 26;
  const labelW = 230;
  const barW = 320;
  const chart = svg("svg", { width: labelW + barW + 170, height: bars.length * rowH + 4, role: "img", "aria-label": title });
  bars.forEach((b, i) => {
    const y = i * rowH + 2;
    const g = svg("g", { class: b.filtro ? "bar link" : "bar", "data-id": b.id });
    const label = svg("text", { x: 0, y: y + 17, class: "bar-label" });
    label.textContent = b.label.length > 32 ? `${b.label.slice(0, 31)}…` : b.label;
    const w = Math.max(2, (Math.abs(b.value) / max) * barW);
    const rect = svg("rect", { x: labelW, y: y + 4, width: w, height: rowH - 8, rx: 3, class: b.value < 0 ? "neg" : "" });
    const val = svg("text", { x: labelW + w + 6, y: y + 17, class: "bar-value" });
    val.textContent = b.text;
    g.append(label, rect, val);
    if (b.filtro) {
      const f = b.filtro;
      g.addEventListener("click", () => open(f));
      const t = svg("title", {});
      t.textContent = "Abrir la lista de estas facturas";
      g.append(t);
    }
    chart.append(g);
  });
  return h("figure", { class: "chart" }, h("figcaption", {}, title), chart as unknown as Node);
}

export function panelScreen(open: (f: ListFilter) => void): HTMLElement {
  const root = h("section", { class: "screen panel", id: "panel" }, h("p", {}, "Cargando…"));
  api
    .dashboard()
    .then((d) => {
      const top = d.gasto_por_obra.slice(0, 15);
      root.replaceChildren(
        h("h1", {}, "Panel"),
        h("p", { class: "muted" }, `Cifras al ${fecha(d.hoy)}. Haga clic en una barra para ver sus facturas.`),
        h(
          "div",
          { class: "charts" },
          barChart(
            "Gasto por obra (sin rechazadas ni anuladas; notas de crédito restan)",
            top.map((o) => ({
              id: `obra-${o.obra ?? "sin"}`,
              label: o.obra ? `${o.obra} ${o.nombre ?? ""}` : "Sin obra",
              value: o.total,
              text: `${clp(o.total)} · ${thousands(o.documentos)} doc.`,
              filtro: o.filtro,
            })),
            open,
          ),
          barChart(
            "Antigüedad de la deuda (facturas por pagar)",
            d.antiguedad.map((a) => ({
              id: `aging-${a.bucket}`,
              label: a.label,
              value: a.total,
              text: `${clp(a.total)} · ${thousands(a.documentos)} doc.`,
              filtro: a.filtro,
            })),
            open,
          ),
          barChart(
            "Plazos de reclamo (documentos recibidos o en revisión)",
            d.plazos.map((p) => ({
              id: `plazo-${p.estado}`,
              label: p.label,
              value: p.documentos,
              text: `${thousands(p.documentos)} doc.`,
              filtro: p.filtro,
            })),
            open,
          ),
        ),
      );
    })
    .catch((e) => root.replaceChildren(h("p", { class: "msg msg-error" }, errorText(e))));
  return root;
}
