// Facturas: filters, a virtualized list over keyset pages, multi-select with bulk actions.

import { api, newJobId, type InvoiceRow, type ListFilter, type SessionInfo } from "../api";
import { clear, errorText, h, say } from "../dom";
import { clp, ESTADOS, estadoLabel, fecha, isoFromChilean, PLAZO_LABELS, rut } from "../format";
import { KeysetList, ROW_HEIGHT } from "../list";
import { summaryText } from "./kame";
import { confirmDialog, modal } from "./modal";

// 100 rows (3,000 px, several screens) per request keeps each IPC answer small.
const PAGE_SIZE = 100;

export interface InvoicesScreen {
  el: HTMLElement;
  filter: () => ListFilter;
}

export function invoicesScreen(
  session: SessionInfo,
  initial: ListFilter,
  open: (id: string) => void,
  exportWith: (f: ListFilter) => void,
): InvoicesScreen {
  let filter: ListFilter = { ...initial };
  const list = new KeysetList<InvoiceRow>((cursor) => api.listInvoices(filter, PAGE_SIZE, cursor));
  const may = (p: string) => session.permissions.includes(p);

  // filters
  const obra = h("select", { id: "f-obra", "aria-label": "Obra" }, h("option", { value: "" }, "Todas las obras"));
  api
    .listObras()
    .then((os) => {
      for (const o of os) obra.append(h("option", { value: o.codigo }, `${o.codigo} ${o.nombre}`));
      obra.value = filter.obra ?? "";
    })
    .catch(() => {});
  const estado = h(
    "select",
    { id: "f-estado", "aria-label": "Estado" },
    h("option", { value: "" }, "Todos los estados"),
    ...ESTADOS.map(([c, l]) => h("option", { value: c }, l)),
  );
  estado.value = filter.estado ?? "";
  const proveedor = h("input", { id: "f-proveedor", placeholder: "RUT proveedor", size: 14, value: filter.proveedor ?? "" });
  const desde = h("input", { id: "f-desde", placeholder: "desde dd-mm-aaaa", size: 12, value: filter.desde ?? "" });
  const hasta = h("input", { id: "f-hasta", placeholder: "hasta dd-mm-aaaa", size: 12, value: filter.hasta ?? "" });
  const vencidas = h("input", { id: "f-vencidas", type: "checkbox", checked: filter.vencidas });
  const plazo = h("input", { id: "f-plazo", type: "checkbox", checked: filter.plazo_por_vencer !== null });
  const q = h("input", {
    id: "f-q",
    type: "search",
    placeholder: "Buscar proveedor, RUT, folio o glosa  ( / )",
    value: filter.q ?? "",
  });
  const msg = h("p", { class: "msg", hidden: true, role: "alert", id: "list-msg" });
  const countLabel = h("span", { id: "list-count", class: "muted" });

  const readFilters = (): ListFilter => ({
    obra: obra.value || null,
    estado: estado.value || null,
    proveedor: proveedor.value.trim() || null,
    desde: desde.value.trim() ? isoFromChilean(desde.value) : null,
    hasta: hasta.value.trim() ? isoFromChilean(hasta.value) : null,
    vencidas: vencidas.checked,
    plazo_por_vencer: plazo.checked ? 2 : null,
    q: q.value.trim() || null,
    ids: null,
  });
  let debounce = 0;
  const apply = () => {
    window.clearTimeout(debounce);
    debounce = window.setTimeout(async () => {
      // the same filters typed again (or a field cleared and retyped) keep the rows and
      // the selection
      const next = readFilters();
      if (JSON.stringify(next) === JSON.stringify(filter)) return;
      filter = next;
      await list.reset();
      render(true);
    }, 250);
  };
  for (const el of [obra, estado, vencidas, plazo]) el.addEventListener("change", apply);
  for (const el of [proveedor, desde, hasta, q]) el.addEventListener("input", apply);
  const clearBtn = h(
    "button",
    {
      type: "button",
      id: "f-clear",
      onclick: () => {
        obra.value = estado.value = proveedor.value = desde.value = hasta.value = q.value = "";
        vencidas.checked = plazo.checked = false;
        apply();
      },
    },
    "Limpiar filtros",
  );

  // bulk actions
  const bulk = h("div", { class: "bulk", id: "bulk-bar", hidden: true });
  const selectedIds = () => [...list.selected];
  const afterBulk = async (ok: number, failed: Array<{ reference: string; message: string }>) => {
    const lines = failed.map((f) => `${f.reference}: ${f.message}`).join("\n");
    say(msg, failed.length ? `${ok} cambiada(s); ${failed.length} rechazada(s):\n${lines}` : `${ok} factura(s) actualizadas.`, failed.length ? "error" : "ok");
    await list.reset();
    render(true);
  };
  const approveBtn = h(
    "button",
    {
      type: "button",
      id: "bulk-approve",
      onclick: async () => {
        try {
          const r = await api.setStatus(selectedIds(), "aprobada", null);
          await afterBulk(r.ok.length, r.failed);
        } catch (e) {
          say(msg, errorText(e));
        }
      },
    },
    "Aprobar",
  );
  const rejectBtn = h(
    "button",
    {
      type: "button",
      id: "bulk-reject",
      onclick: () =>
        modal("Rechazar facturas", [{ id: "motivo", label: "Motivo del rechazo (obligatorio)" }], async (v) => {
          const r = await api.setStatus(selectedIds(), "rechazada", v.motivo);
          await afterBulk(r.ok.length, r.failed);
        }),
    },
    "Rechazar…",
  );
  const assignBtn = h(
    "button",
    {
      type: "button",
      id: "bulk-assign",
      onclick: () =>
        modal(
          "Asignar obra, centro de costo o cuenta",
          [
            { id: "obra", label: "Obra (código; vacío = sin cambio)" },
            { id: "centro_costo", label: "Centro de costo" },
            { id: "cuenta", label: "Cuenta contable" },
          ],
          async (v) => {
            const val = (s: string) => (s.trim() === "" ? null : s.trim());
            const r = await api.assign(selectedIds(), {
              obra: val(v.obra),
              centro_costo: val(v.centro_costo),
              cuenta: val(v.cuenta),
              glosa: null,
            });
            await afterBulk(r.ok.length, r.failed);
          },
        ),
    },
    "Asignar…",
  );
  const kameBtn = h(
    "button",
    {
      type: "button",
      id: "bulk-kame",
      onclick: async () => {
        const ids = selectedIds();
        const ok = await confirmDialog(
          "Contabilizar en Kame",
          `Se enviará a Kame un comprobante por cada una de las ${ids.length} factura(s) seleccionadas que tenga cuenta. Las ya contabilizadas no se envían otra vez.`,
          "Contabilizar",
        );
        if (!ok) return;
        try {
          const r = await api.kamePost(newJobId(), ids, filter);
          const notDone = r.resultados.filter((x) => !["publicado", "ya_publicado", "recuperado"].includes(x.resultado));
          const lines = notDone.map((x) => `${x.documento ?? x.id}: ${x.mensaje ?? x.resultado}`).join("\n");
          say(msg, `${summaryText(r)}${lines ? `\n${lines}` : ""}`, notDone.length ? "error" : "ok");
        } catch (e) {
          say(msg, errorText(e));
        }
      },
    },
    "Contabilizar en Kame",
  );
  // «sin cuenta» goes once the suppliers have a concepto that a template reaches
  const conceptoBtn = h(
    "button",
    {
      type: "button",
      id: "bulk-concepto",
      onclick: async () => {
        let conceptos: string[] = [];
        try {
          conceptos = (await api.kamePlantillas()).map((p) => p.concepto);
        } catch (e) {
          say(msg, errorText(e));
          return;
        }
        modal(
          "Asignar concepto de compra a los proveedores",
          [{ id: "concepto", label: "Concepto de compra (uno con plantilla contable)", options: conceptos }],
          async (v) => {
            const r = await api.kameAssignConcepto(selectedIds(), v.concepto);
            const already = r.sin_cambio > 0 ? `; ${r.sin_cambio} ya lo tenían` : "";
            say(
              msg,
              `Concepto «${r.concepto}» asignado a ${r.proveedores} proveedor(es) de las ${r.facturas} factura(s) seleccionadas${already}. Se conserva al traer las fichas de Kame.`,
              "ok",
            );
            await list.reset();
            render(true);
          },
        );
      },
    },
    "Asignar concepto…",
  );
  const exportBtn = h("button", { type: "button", id: "bulk-export", onclick: () => exportWith(filter) }, "Exportar lista…");
  const selInfo = h("span", { id: "bulk-count" });
  bulk.append(
    selInfo,
    may("approve") ? approveBtn : "",
    may("approve") ? rejectBtn : "",
    may("assign") ? assignBtn : "",
    may("accounting") ? conceptoBtn : "",
    may("accounting") ? kameBtn : "",
    may("export")
      ? h(
          "button",
          { type: "button", id: "bulk-export-selected", onclick: () => exportWith({ ...filter, ids: selectedIds() }) },
          "Exportar selección…",
        )
      : "",
    h("button", { type: "button", onclick: () => (list.clearSelection(), render(false)) }, "Quitar selección"),
  );

  // the virtual list
  const header = h(
    "div",
    { class: "row head", role: "row" },
    ...["", "Tipo", "Folio", "Proveedor", "RUT", "Emisión", "Vence", "Plazo reclamo", "Total", "Estado", "Obra"].map((t) =>
      h("span", { role: "columnheader" }, t),
    ),
  );
  const spacer = h("div", { class: "spacer" });
  const viewport = h("div", { class: "viewport", id: "invoice-list", tabindex: 0, role: "grid", "aria-label": "Facturas" }, spacer);

  const rowEl = (r: InvoiceRow, i: number): HTMLElement => {
    const classes = [
      "row",
      `estado-${r.estado}`,
      r.plazo_reclamo_estado ? `plazo-${r.plazo_reclamo_estado}` : "",
      r.vencida ? "vencida" : "",
      list.selected.has(r.id) ? "selected" : "",
      i === list.focus ? "focused" : "",
    ];
    const box = h("input", { type: "checkbox", checked: list.selected.has(r.id), "aria-label": `Seleccionar folio ${r.folio}` });
    box.addEventListener("click", (e) => {
      e.stopPropagation();
      list.toggle(r.id);
      render(false);
    });
    const plazoText =
      r.plazo_reclamo && r.plazo_reclamo !== "desconocido"
        ? `${fecha(r.plazo_reclamo)} (${PLAZO_LABELS[r.plazo_reclamo_estado ?? ""] ?? ""})`
        : PLAZO_LABELS[r.plazo_reclamo_estado ?? ""] ?? "";
    const el = h(
      "div",
      {
        class: classes.filter(Boolean).join(" "),
        role: "row",
        "data-id": r.id,
        "data-folio": r.folio,
        style: `top:${i * ROW_HEIGHT}px`,
        ondblclick: () => open(r.id),
        onclick: () => {
          list.focus = i;
          render(false);
        },
      },
      h("span", {}, box),
      h("span", {}, r.tipo_dte),
      h("span", {}, r.folio),
      h("span", { class: "wide", title: r.razon_social }, r.razon_social),
      h("span", {}, rut(r.rut_emisor)),
      h("span", {}, fecha(r.fecha_emision)),
      h("span", {}, fecha(r.vence)),
      h("span", {}, plazoText),
      h("span", { class: "num" }, clp(r.monto_total)),
      h("span", {}, estadoLabel(r.estado)),
      h(
        "span",
        {},
        r.obra ?? "",
        r.sin_cuenta
          ? h(
              "span",
              { class: "badge sin-cuenta", title: "Ninguna plantilla contable alcanza esta factura: selecciónela y use «Asignar concepto…», o asigne el concepto del proveedor en Contabilidad" },
              "sin cuenta",
            )
          : null,
      ),
    );
    return el;
  };

  let drawing = false;
  // Rows on screen by index: scrolling only adds the rows that come into view and removes
  // those that leave it; a change of data, selection or focus redraws them all.
  const drawn = new Map<number, HTMLElement>();
  function render(scrollTop: boolean, scrolled = false): void {
    if (scrollTop) viewport.scrollTop = 0;
    const { start, end, needMore } = list.window(viewport.scrollTop, viewport.clientHeight || 600);
    spacer.style.height = `${(list.rows.length + (list.done ? 0 : 5)) * ROW_HEIGHT}px`;
    if (!scrolled) {
      drawn.clear();
      clear(spacer);
    }
    for (const [i, el] of drawn) {
      if (i < start || i >= end) {
        el.remove();
        drawn.delete(i);
      }
    }
    const fresh = document.createDocumentFragment();
    for (let i = start; i < end; i++) {
      if (!drawn.has(i)) {
        const el = rowEl(list.rows[i], i);
        drawn.set(i, el);
        fresh.append(el);
      }
    }
    spacer.append(fresh);
    countLabel.textContent = list.done
      ? `${list.rows.length.toLocaleString("es-CL")} factura(s)`
      : `${list.rows.length.toLocaleString("es-CL")} cargadas…`;
    if (list.rows.length === 0 && list.done && !list.loading) {
      spacer.append(h("p", { class: "empty" }, "No hay facturas con estos filtros."));
    }
    if (list.error) say(msg, list.error);
    bulk.hidden = list.selected.size === 0;
    selInfo.textContent = `${list.selected.size} seleccionada(s)`;
    if (needMore && !list.loading && !drawing) {
      drawing = true;
      list.loadMore().then(() => {
        drawing = false;
        render(false, true);
      });
    }
  }
  viewport.addEventListener("scroll", () => render(false, true));
  viewport.addEventListener("keydown", (e) => {
    const k = (e as KeyboardEvent).key;
    if (k === "ArrowDown" || k === "ArrowUp" || k === "PageDown" || k === "PageUp") {
      e.preventDefault();
      const step = k.startsWith("Page") ? 20 : 1;
      const i = list.move(k.endsWith("Down") ? step : -step);
      const top = i * ROW_HEIGHT;
      if (top < viewport.scrollTop) viewport.scrollTop = top;
      if (top + ROW_HEIGHT > viewport.scrollTop + viewport.clientHeight) viewport.scrollTop = top + ROW_HEIGHT - viewport.clientHeight;
      render(false);
    } else if (k === "Enter") {
      const r = list.focused();
      if (r) open(r.id);
    } else if (k === " ") {
      e.preventDefault();
      const r = list.focused();
      if (r) list.toggle(r.id);
      render(false);
    } else if (k === "a" && ((e as KeyboardEvent).ctrlKey || (e as KeyboardEvent).metaKey)) {
      e.preventDefault();
      list.selectAllLoaded();
      render(false);
    }
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "/" && document.activeElement?.tagName !== "INPUT" && q.isConnected) {
      e.preventDefault();
      q.focus();
    }
  });

  const el = h(
    "section",
    { class: "screen invoices" },
    h(
      "div",
      { class: "filters" },
      q,
      obra,
      estado,
      proveedor,
      desde,
      hasta,
      h("label", { class: "check" }, vencidas, "Vencidas"),
      h("label", { class: "check" }, plazo, "Plazo de reclamo por vencer"),
      clearBtn,
      may("export") ? exportBtn : "",
      countLabel,
    ),
    msg,
    bulk,
    h("div", { class: "table" }, header, viewport),
  );
  list.reset().then(() => render(true));
  new ResizeObserver(() => render(false)).observe(viewport);
  return { el, filter: () => filter };
}
