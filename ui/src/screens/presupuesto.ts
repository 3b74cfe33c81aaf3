// Presupuesto (per obra: period, budget lines with their modifications, weekly plan, actual
// spend from the invoices and payments, variance, a planned-vs-actual chart, the workbook)
// and Tesorería (the company's weekly cash flow with bank balances, income and expense
// rows, loans, approved payment runs, a balance chart, the workbook). Every rule, amount and
// permission is Rust's; this shows what Rust computes and sends what the user types.

import {
  api,
  chooseSavePath,
  revealInFolder,
  type BudgetLineDoc,
  type GridRow,
  type LoanDoc,
  type ObraBudgetView,
  type ObraLineDoc,
  type SessionInfo,
  type TreasuryBankDoc,
  type TreasuryRowDoc,
  type TreasuryView,
} from "../api";
import { clear, errorText, h, say } from "../dom";
import { clp, fecha, fechaHora, isoFromChilean } from "../format";
import { balanceSeries, budgetSeries, mondayOf, pesosFromText, rowClass, signClass, weekLabel } from "../presupuesto";
import { barChart, lineChart } from "./charts";
import { confirmDialog } from "./modal";

/** Runs a change, redraws, says how it went in `msg`, and whether it was saved. */
type Act = (f: () => Promise<unknown>, ok: string) => Promise<boolean>;

function actor(msg: HTMLElement, reload: () => Promise<void>): Act {
  return async (f, ok) => {
    try {
      await f();
      await reload();
      say(msg, ok, "ok");
      return true;
    } catch (e) {
      say(msg, errorText(e));
      return false;
    }
  };
}

function money(n: number | null, id?: string): HTMLElement {
  return h("td", { class: `num ${signClass(n)}`, id }, n === null ? "—" : clp(n));
}

function input(id: string, placeholder: string, size = 12, value = ""): HTMLInputElement {
  return h("input", { id, placeholder, size, value, "aria-label": placeholder });
}

/** Reads a typed amount or says why it is not one. */
function amountOf(el: HTMLInputElement, what: string): number {
  const n = pesosFromText(el.value);
  if (n === null) throw new Error(`${what}: «${el.value}» no es un monto en pesos (por ejemplo 1.500.000)`);
  return n;
}

function codes(text: string): string[] {
  return text
    .split(/[,;\s]+/)
    .map((c) => c.trim())
    .filter((c) => c !== "");
}

// ---------------------------------------------------------------------------------------
// Presupuesto

export function presupuestoScreen(s: SessionInfo): HTMLElement {
  const may = (p: string) => s.permissions.includes(p);
  const msg = h("p", { class: "msg", hidden: true, role: "alert", id: "presupuesto-msg" });
  const body = h("div", { id: "presupuesto-body" });
  const select = h("select", { id: "presupuesto-obra", "aria-label": "Obra" });
  const root = h(
    "section",
    { class: "screen", id: "presupuesto" },
    h("h1", {}, "Presupuesto y flujo de caja por obra"),
    h("div", { class: "toolbar" }, h("label", {}, "Obra ", select), msg),
    body,
  );
  const load = async () => {
    say(msg, "");
    if (!select.value) return;
    try {
      const view = await api.obraBudget(select.value);
      clear(body);
      body.append(obraView(view, load, msg));
    } catch (e) {
      say(msg, errorText(e));
    }
  };
  select.addEventListener("change", load);
  api
    .listObras()
    .then((obras) => {
      // (list_obras holds only the obras this user sees)
      const visible = obras.filter((o) => o.activa);
      if (!visible.length) {
        body.append(h("p", {}, "No hay obras que usted pueda ver. Cree obras en la sección Obras."));
        return;
      }
      select.append(...visible.map((o) => h("option", { value: o.codigo }, `${o.codigo} — ${o.nombre}`)));
      void load();
    })
    .catch((e) => say(msg, errorText(e)));
  if (may("budget_catalog")) root.append(catalogView());
  return root;
}

function obraView(v: ObraBudgetView, reload: () => Promise<void>, msg: HTMLElement): HTMLElement {
  const out = h("div", {});
  const act = actor(msg, reload);
  // period
  const desde = input("periodo-desde", "desde dd-mm-aaaa", 12, v.presupuesto ? fecha(v.presupuesto.desde) : "");
  const hasta = input("periodo-hasta", "hasta dd-mm-aaaa", 12, v.presupuesto ? fecha(v.presupuesto.hasta) : "");
  if (v.editable) {
    out.append(
      h(
        "form",
        {
          class: "toolbar",
          id: "periodo-form",
          onsubmit: (e: Event) => {
            e.preventDefault();
            void act(
              () => api.obraBudgetSetPeriod(v.obra, isoFromChilean(desde.value), isoFromChilean(hasta.value)),
              "Período guardado (las semanas empiezan el lunes).",
            );
          },
        },
        h("span", {}, "Período: "),
        desde,
        hasta,
        h("button", { type: "submit", id: "periodo-save" }, v.presupuesto ? "Cambiar período" : "Fijar período"),
      ),
    );
  } else if (v.presupuesto) {
    out.append(h("p", {}, `Período: semanas del ${fecha(v.presupuesto.desde)} al ${fecha(v.presupuesto.hasta)}.`));
  }
  // lines to add
  if (v.editable && v.disponibles.length) {
    const sel = h(
      "select",
      { id: "linea-nueva", "aria-label": "Partida del catálogo" },
      ...v.disponibles.map((c) => h("option", { value: c.id }, `${c.familia} · ${c.nombre}`)),
    );
    const inicial = input("linea-inicial", "presupuesto inicial", 14);
    out.append(
      h(
        "form",
        {
          class: "toolbar",
          id: "linea-form",
          onsubmit: (e: Event) => {
            e.preventDefault();
            void act(() => api.obraBudgetAddLine(v.obra, sel.value, amountOf(inicial, "El presupuesto inicial")), "Partida agregada.");
          },
        },
        h("span", {}, "Agregar partida: "),
        sel,
        inicial,
        h("button", { type: "submit", id: "linea-add" }, "Agregar"),
      ),
    );
  } else if (v.editable && !v.lineas.length) {
    out.append(h("p", {}, "El catálogo de partidas está vacío: un administrador o el gerente lo crea más abajo."));
  }
  if (!v.grid) {
    out.append(h("p", { id: "presupuesto-sin-periodo" }, "Fije el período de la obra para ver su grilla semanal."));
    return out;
  }
  const grid = v.grid;
  const canvas = h("canvas", { id: "presupuesto-chart", width: 900, height: 300, role: "img", "aria-label": "Presupuesto vigente, planificado y real por partida" });
  const editor = h("div", { id: "linea-editor" });
  const exportBtn = h(
    "button",
    {
      type: "button",
      id: "presupuesto-export",
      onclick: async () => {
        const path = await chooseSavePath(`presupuesto-${v.obra}.xlsx`);
        if (!path) return;
        try {
          await api.obraBudgetExport(v.obra, path);
          say(msg, `Planilla guardada en ${path}.`, "ok");
          void revealInFolder(path).catch(() => undefined);
        } catch (e) {
          say(msg, errorText(e));
        }
      },
    },
    "Exportar a Excel",
  );
  const weekHead = grid.semanas.map((w) => h("th", { class: "num", title: `Semana del ${fecha(w)}` }, weekLabel(w)));
  const lineOf = (r: GridRow) => v.lineas.find((l) => l.id === r.id);
  const table = h(
    "table",
    { id: "presupuesto-grid", class: "grid" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", {}, "Partida"),
        h("th", {}, ""),
        h("th", { class: "num" }, "Inicial"),
        h("th", { class: "num" }, "Modif."),
        h("th", { class: "num" }, "Vigente"),
        h("th", { class: "num" }, "Planificado"),
        h("th", { class: "num" }, "Real"),
        h("th", { class: "num" }, "Pagado"),
        h("th", { class: "num" }, "Variación"),
        ...weekHead,
      ),
    ),
    h(
      "tbody",
      {},
      ...grid.filas.flatMap((r, i) => {
        const line = lineOf(r);
        const label = line
          ? h("button", { type: "button", class: "link", id: `linea-${i}`, onclick: () => showEditor(editor, v, line, act) }, r.nombre)
          : r.nombre;
        const head = (what: string, cells: number[]) =>
          h(
            "tr",
            { class: rowClass(r), "data-fila": r.nombre, "data-serie": what },
            what === "Plan" ? h("td", { rowspan: 2 }, label) : null,
            h("td", { class: "serie" }, what),
            ...(what === "Plan"
              ? [money(r.inicial), money(r.modificaciones), money(r.vigente), money(r.plan_total), money(r.real_total), money(r.pagado_total), money(r.variacion)]
              : [h("td", { colspan: 7, class: "num muted" }, r.pagado_total ? `pagado ${clp(r.pagado_total)}` : "")]),
            ...cells.map((c) => money(c)),
          );
        return [head("Plan", r.plan), head("Real", r.real)];
      }),
    ),
  );
  out.append(
    h("div", { class: "toolbar" }, exportBtn),
    h("div", { class: "grid-scroll" }, table),
    h("p", { class: "muted" }, "Real: facturas de la obra por semana de emisión (neto + exento; notas de crédito restan), según la cuenta o el centro de costo de cada partida; lo que no calza con ninguna queda en «Sin partida». Ingresos reales se escriben. Variación = vigente − real."),
    editor,
    h("h2", {}, "Vigente, planificado y real por partida"),
    canvas,
  );
  const series = budgetSeries(grid);
  void barChart(canvas, series.labels, [
    { name: "Vigente", data: series.vigente },
    { name: "Planificado", data: series.plan },
    { name: "Real", data: series.real },
  ]).catch((e) => say(msg, `No se pudo dibujar el gráfico: ${errorText(e)}`));
  return out;
}

function showEditor(
  box: HTMLElement,
  v: ObraBudgetView,
  line: ObraLineDoc,
  act: Act,
): void {
  clear(box);
  const grid = v.grid;
  if (!grid) return;
  const income = line.familia === "INGRESOS";
  const inputs = grid.semanas.map((w) => {
    const s = line.semanas.find((x) => x.semana === w);
    return {
      w,
      plan: input(`plan-${w}`, "plan", 11, s && s.plan ? String(s.plan) : ""),
      real: income ? input(`real-${w}`, "real", 11, s && s.real !== null ? String(s.real) : "") : null,
    };
  });
  const monto = input("modif-monto", "monto (+/−)", 12);
  const motivo = input("modif-motivo", "motivo", 30);
  const parts: Array<HTMLElement | null> = [
    h("h2", {}, `${line.nombre} (${line.familia})`),
    v.editable
      ? h(
          "form",
          {
            id: "semanas-form",
            onsubmit: (e: Event) => {
              e.preventDefault();
              void act(
                () =>
                  api.obraBudgetSetWeeks(
                    v.obra,
                    line.id,
                    inputs.map((x) => ({
                      semana: x.w,
                      plan: x.plan.value.trim() ? amountOf(x.plan, `Semana ${weekLabel(x.w)}`) : 0,
                      real: x.real && x.real.value.trim() ? amountOf(x.real, `Semana ${weekLabel(x.w)}`) : null,
                    })),
                  ),
                "Semanas guardadas.",
              );
            },
          },
          h(
            "div",
            { class: "grid-scroll" },
            h(
              "table",
              { class: "grid" },
              h("tr", {}, h("th", {}, ""), ...inputs.map((x) => h("th", {}, weekLabel(x.w)))),
              h("tr", {}, h("th", {}, "Plan"), ...inputs.map((x) => h("td", {}, x.plan))),
              income ? h("tr", {}, h("th", {}, "Real"), ...inputs.map((x) => h("td", {}, x.real))) : null,
            ),
          ),
          h("button", { type: "submit", id: "semanas-save" }, "Guardar semanas"),
        )
      : null,
    h("h3", {}, "Modificaciones"),
    line.modificaciones.length
      ? h(
          "table",
          { id: "modificaciones" },
          h("tr", {}, h("th", {}, "Fecha"), h("th", {}, "Por"), h("th", { class: "num" }, "Monto"), h("th", {}, "Motivo")),
          ...line.modificaciones.map((m) => h("tr", {}, h("td", {}, fechaHora(m.en)), h("td", {}, m.por), money(m.monto), h("td", {}, m.motivo))),
        )
      : h("p", { class: "muted" }, `Sin modificaciones: vigente = inicial (${clp(line.inicial)}).`),
    v.editable
      ? h(
          "form",
          {
            class: "toolbar",
            id: "modif-form",
            onsubmit: (e: Event) => {
              e.preventDefault();
              void act(() => api.obraBudgetModify(v.obra, line.id, amountOf(monto, "La modificación"), motivo.value), "Modificación registrada.");
            },
          },
          monto,
          motivo,
          h("button", { type: "submit", id: "modif-save" }, "Agregar modificación"),
        )
      : null,
  ];
  box.append(...parts.filter((p): p is HTMLElement => p !== null));
  box.scrollIntoView?.({ block: "nearest" });
}

function catalogView(): HTMLElement {
  const msg = h("p", { class: "msg", hidden: true, role: "alert" });
  const list = h("div", { id: "catalogo-list" });
  const familia = h("select", { id: "catalogo-familia", "aria-label": "Familia" });
  api
    .budgetFamilies()
    .then((fs) => familia.replaceChildren(...fs.map((f) => h("option", { value: f }, f))))
    .catch((e) => say(msg, errorText(e)));
  const nombre = input("catalogo-nombre", "nombre de la partida", 24);
  const cuentas = input("catalogo-cuentas", "cuentas (5101, 5102)", 18);
  const centros = input("catalogo-centros", "centros de costo", 18);
  const activa = h("input", { type: "checkbox", id: "catalogo-activa", checked: true });
  let editing: BudgetLineDoc | null = null;
  const saveBtn = h("button", { type: "submit", id: "catalogo-save" }, "Agregar al catálogo");
  const reload = async () => {
    const lines = await api.budgetCatalog();
    clear(list);
    if (!lines.length) {
      list.append(
        h(
          "button",
          {
            type: "button",
            id: "catalogo-base",
            onclick: async () => {
              try {
                const n = await api.budgetCatalogSeed();
                say(msg, `${n} partidas base creadas.`, "ok");
                await reload();
              } catch (e) {
                say(msg, errorText(e));
              }
            },
          },
          "Crear partidas base (una por familia)",
        ),
      );
      return;
    }
    list.append(
      h(
        "table",
        { id: "catalogo" },
        h("tr", {}, h("th", {}, "Familia"), h("th", {}, "Partida"), h("th", {}, "Cuentas"), h("th", {}, "Centros de costo"), h("th", {}, "")),
        ...lines.map((l) =>
          h(
            "tr",
            { class: l.activa ? "" : "muted" },
            h("td", {}, l.familia),
            h("td", {}, l.nombre),
            h("td", {}, l.cuentas.join(", ")),
            h("td", {}, l.centros.join(", ")),
            h(
              "td",
              {},
              h(
                "button",
                {
                  type: "button",
                  onclick: () => {
                    editing = l;
                    familia.value = l.familia;
                    nombre.value = l.nombre;
                    cuentas.value = l.cuentas.join(", ");
                    centros.value = l.centros.join(", ");
                    activa.checked = l.activa;
                    saveBtn.textContent = "Guardar cambios";
                    nombre.focus();
                  },
                },
                "Editar",
              ),
            ),
          ),
        ),
      ),
    );
  };
  void reload().catch((e) => say(msg, errorText(e)));
  return h(
    "section",
    { id: "catalogo-section" },
    h("h2", {}, "Catálogo de partidas"),
    h("p", { class: "muted" }, "Las facturas cuya cuenta (o, si no, cuyo centro de costo) figura en una partida son su gasto real."),
    h(
      "form",
      {
        class: "toolbar",
        id: "catalogo-form",
        onsubmit: async (e: Event) => {
          e.preventDefault();
          try {
            await api.budgetCatalogSave({
              id: editing?.id ?? null,
              familia: familia.value,
              nombre: nombre.value,
              cuentas: codes(cuentas.value),
              centros: codes(centros.value),
              activa: activa.checked,
            });
            say(msg, `Partida «${nombre.value.trim()}» guardada.`, "ok");
            editing = null;
            saveBtn.textContent = "Agregar al catálogo";
            nombre.value = cuentas.value = centros.value = "";
            activa.checked = true;
            await reload();
          } catch (err) {
            say(msg, errorText(err));
          }
        },
      },
      familia,
      nombre,
      cuentas,
      centros,
      h("label", {}, activa, " activa"),
      saveBtn,
    ),
    msg,
    list,
  );
}

// ---------------------------------------------------------------------------------------
// Tesorería

export function tesoreriaScreen(): HTMLElement {
  const msg = h("p", { class: "msg", hidden: true, role: "alert", id: "tesoreria-msg" });
  const body = h("div", { id: "tesoreria-body" });
  const desde = input("tesoreria-desde", "desde dd-mm-aaaa", 12, fecha(mondayOf(new Date(), -2)));
  const semanas = h("input", { id: "tesoreria-semanas", type: "number", min: 1, max: 104, value: "12", "aria-label": "Semanas" });
  const range = () => ({ desde: isoFromChilean(desde.value), semanas: Math.max(1, Math.min(104, Number(semanas.value) || 12)) });
  const act = actor(msg, () => load());
  const banks = bankForm(act);
  const rows = rowForm(act);
  const load = async () => {
    try {
      const r = range();
      const v = await api.treasury(r.desde, r.semanas);
      rows.setBanks(v.bancos);
      clear(body);
      body.append(treasuryView(v, act, msg, { bank: banks.edit, row: rows.edit }));
    } catch (e) {
      say(msg, errorText(e));
    }
  };
  void load();
  return h(
    "section",
    { class: "screen", id: "tesoreria" },
    h("h1", {}, "Tesorería: flujo de caja semanal de la empresa"),
    h(
      "form",
      {
        class: "toolbar",
        onsubmit: (e: Event) => {
          e.preventDefault();
          void load();
        },
      },
      h("label", {}, "Desde ", desde),
      h("label", {}, "Semanas ", semanas),
      h("button", { type: "submit", id: "tesoreria-ver" }, "Ver"),
      h(
        "button",
        {
          type: "button",
          id: "tesoreria-export",
          onclick: async () => {
            const path = await chooseSavePath("tesoreria.xlsx");
            if (!path) return;
            const r = range();
            await act(() => api.treasuryExport(r.desde, r.semanas, path), `Planilla guardada en ${path}.`);
          },
        },
        "Exportar a Excel",
      ),
    ),
    msg,
    body,
    banks.el,
    rows.el,
    loanForm(act),
  );
}

/** Fills a form with an existing account or row to change it. */
type Editors = { bank: (b: TreasuryBankDoc) => void; row: (r: TreasuryRowDoc) => void };

function treasuryView(v: TreasuryView, act: Act, msg: HTMLElement, edit: Editors): HTMLElement {
  const g = v.grid;
  const kindLabel: Record<string, string> = { obra: "Obra (plan)", ingreso: "Ingreso", egreso: "Egreso", prestamo: "Préstamo", nomina: "Nóminas" };
  const canvas = h("canvas", { id: "tesoreria-chart", width: 900, height: 280, role: "img", "aria-label": "Saldo de las cuentas por semana" });
  const table = h(
    "table",
    { id: "tesoreria-grid", class: "grid" },
    h("thead", {}, h("tr", {}, h("th", {}, "Concepto"), h("th", {}, "Tipo"), ...g.semanas.map((w) => h("th", { class: "num", title: `Semana del ${fecha(w)}` }, weekLabel(w))))),
    h(
      "tbody",
      {},
      ...g.filas.map((f) => h("tr", { "data-fila": f.etiqueta }, h("td", {}, f.etiqueta), h("td", {}, kindLabel[f.kind] ?? f.kind), ...f.montos.map((m) => money(m)))),
      h("tr", { class: "grid-family" }, h("td", {}, "Flujo neto"), h("td", {}, ""), ...g.neto.map((m) => money(m))),
      ...g.bancos.map((b) =>
        h("tr", { class: "grid-family", "data-banco": b.nombre }, h("td", {}, `Saldo ${b.nombre}`), h("td", {}, "Cuenta"), ...b.saldos.map((m) => money(m))),
      ),
      h("tr", { class: "grid-total", id: "tesoreria-saldo" }, h("td", {}, "Saldo total"), h("td", {}, ""), ...g.saldo_total.map((m) => money(m))),
    ),
  );
  const out = h(
    "div",
    {},
    g.bancos.length ? null : h("p", { class: "msg msg-info" }, "Registre una cuenta bancaria con su saldo para ver los saldos semanales."),
    h("div", { class: "grid-scroll" }, table),
    h("h2", {}, "Saldo por semana"),
    canvas,
    h("h2", {}, "Cuentas"),
    h(
      "table",
      { id: "tesoreria-bancos" },
      ...v.bancos.map((b) =>
        h(
          "tr",
          {},
          h("td", {}, b.nombre + (b.principal ? " (principal)" : "")),
          h("td", {}, `saldo ${clp(b.saldo_inicial)} al inicio de la semana del ${fecha(b.semana)}`),
          h(
            "td",
            {},
            h("button", { type: "button", onclick: () => edit.bank(b) }, "Editar"),
            " ",
            h(
              "button",
              {
                type: "button",
                onclick: async () => {
                  if (await confirmDialog("Eliminar cuenta", `¿Eliminar la cuenta «${b.nombre}» de la tesorería?`, "Eliminar"))
                    await act(() => api.treasuryDelete("banco", b.id), "Cuenta eliminada.");
                },
              },
              "Eliminar",
            ),
          ),
        ),
      ),
    ),
    h("h2", {}, "Filas de ingresos y egresos"),
    h(
      "table",
      { id: "tesoreria-filas" },
      ...v.filas.map((f) =>
        h(
          "tr",
          {},
          h("td", {}, `${f.tipo === "ingreso" ? "Ingreso" : "Egreso"}: ${f.concepto}`),
          h("td", {}, f.montos.map((m) => `${weekLabel(m.semana)}: ${clp(m.monto)}`).join(" · ")),
          h(
            "td",
            {},
            h("button", { type: "button", onclick: () => edit.row(f) }, "Editar"),
            " ",
            h(
              "button",
              {
                type: "button",
                onclick: async () => {
                  if (await confirmDialog("Eliminar fila", `¿Eliminar «${f.concepto}» del flujo de caja?`, "Eliminar"))
                    await act(() => api.treasuryDelete("fila", f.id), "Fila eliminada.");
                },
              },
              "Eliminar",
            ),
          ),
        ),
      ),
    ),
    h("h2", {}, "Préstamos"),
    h("div", { id: "prestamos" }, ...v.prestamos.map((l, i) => loanView(l, i, act))),
  );
  const series = balanceSeries(g);
  void lineChart(canvas, series.labels, series.series).catch((e) => say(msg, `No se pudo dibujar el gráfico: ${errorText(e)}`));
  return out;
}

function loanView(l: LoanDoc, i: number, act: Act): HTMLElement {
  const next = l.cuotas.find((c) => c.pagada === null) ?? null;
  const saldo = l.cuotas.filter((c) => c.pagada === null).reduce((a, c) => a + c.monto, 0);
  const pagoFecha = input(`prestamo-${i}-fecha`, "fecha de pago dd-mm-aaaa", 14, next ? fecha(next.vence) : "");
  const vence = input(`prestamo-${i}-vence`, "vence dd-mm-aaaa", 12, next ? fecha(next.vence) : "");
  const monto = input(`prestamo-${i}-monto`, "monto", 12, next ? String(next.monto) : "");
  const descripcion = input(`prestamo-${i}-desc`, "descripción", 24, l.descripcion);
  return h(
    "div",
    { class: "card prestamo", "data-prestamo": l.id },
    h("h3", {}, `${l.banco} — ${l.descripcion || "préstamo"}`),
    h(
      "p",
      { id: `prestamo-${i}-estado` },
      `Capital ${clp(l.monto)}; ${l.cuotas.filter((c) => c.pagada).length} de ${l.cuotas.length} cuotas pagadas; por pagar ${clp(saldo)}. ` +
        (next ? `Próxima: cuota ${next.n}, ${clp(next.monto)} el ${fecha(next.vence)}.` : "Pagado completo."),
    ),
    next
      ? h(
          "form",
          {
            class: "toolbar",
            onsubmit: async (e: Event) => {
              e.preventDefault();
              if (await confirmDialog("Pagar cuota", `¿Registrar el pago de la cuota ${next.n} (${clp(next.monto)})?`, "Registrar pago"))
                await act(() => api.loanPayNext(l.id, isoFromChilean(pagoFecha.value)), `Cuota ${next.n} pagada.`);
            },
          },
          pagoFecha,
          h("button", { type: "submit", id: `prestamo-${i}-pagar` }, "Pagar próxima cuota"),
        )
      : null,
    h(
      "form",
      {
        class: "toolbar",
        onsubmit: async (e: Event) => {
          e.preventDefault();
          await act(
            () =>
              api.loanUpdate({
                id: l.id,
                banco: l.banco,
                descripcion: descripcion.value,
                banco_id: l.banco_id,
                cuotas: next ? [[next.n, isoFromChilean(vence.value), amountOf(monto, "El monto de la cuota")]] : [],
              }),
            "Préstamo actualizado.",
          );
        },
      },
      descripcion,
      next ? h("span", {}, ` cuota ${next.n}: `) : null,
      next ? vence : null,
      next ? monto : null,
      h("button", { type: "submit", id: `prestamo-${i}-editar` }, "Guardar cambios"),
      h(
        "button",
        {
          type: "button",
          id: `prestamo-${i}-eliminar`,
          onclick: async () => {
            if (await confirmDialog("Eliminar préstamo", `¿Eliminar el préstamo de ${l.banco}? Sus cuotas salen del flujo de caja.`, "Eliminar"))
              await act(() => api.treasuryDelete("prestamo", l.id), "Préstamo eliminado.");
          },
        },
        "Eliminar",
      ),
    ),
    h(
      "table",
      { class: "cuotas" },
      h("tr", {}, h("th", {}, "N°"), h("th", {}, "Vence"), h("th", { class: "num" }, "Monto"), h("th", {}, "Pagada")),
      ...l.cuotas.map((c) => h("tr", { class: c.pagada ? "muted" : "" }, h("td", {}, String(c.n)), h("td", {}, fecha(c.vence)), money(c.monto), h("td", {}, c.pagada ? fecha(c.pagada) : ""))),
    ),
  );
}


function bankForm(act: Act): { el: HTMLElement; edit: (b: TreasuryBankDoc) => void } {
  const nombre = input("banco-nombre", "nombre de la cuenta", 24);
  const saldo = input("banco-saldo", "saldo (puede ser negativo)", 16);
  const semana = input("banco-semana", "al dd-mm-aaaa", 12, fecha(mondayOf(new Date())));
  const principal = h("input", { type: "checkbox", id: "banco-principal", checked: true });
  const title = h("strong", {}, "Nueva cuenta: ");
  let editing: string | null = null;
  const el = h(
    "form",
    {
      class: "toolbar",
      id: "banco-form",
      onsubmit: (e: Event) => {
        e.preventDefault();
        void act(
          () =>
            api.treasuryBankSave({
              id: editing,
              nombre: nombre.value,
              saldo_inicial: amountOf(saldo, "El saldo"),
              semana: isoFromChilean(semana.value),
              principal: principal.checked,
            }),
          "Cuenta guardada.",
        ).then((saved) => {
          if (!saved) return;
          editing = null;
          title.textContent = "Nueva cuenta: ";
        });
      },
    },
    title,
    nombre,
    saldo,
    semana,
    h("label", {}, principal, " principal"),
    h("button", { type: "submit", id: "banco-save" }, "Guardar cuenta"),
  );
  const edit = (b: TreasuryBankDoc) => {
    editing = b.id;
    title.textContent = `Cambiar «${b.nombre}»: `;
    nombre.value = b.nombre;
    saldo.value = String(b.saldo_inicial);
    semana.value = fecha(b.semana);
    principal.checked = b.principal;
    nombre.focus();
  };
  return { el, edit };
}

function rowForm(act: Act): {
  el: HTMLElement;
  edit: (r: TreasuryRowDoc) => void;
  setBanks: (b: TreasuryBankDoc[]) => void;
} {
  const concepto = input("fila-concepto", "concepto", 22);
  const tipo = h("select", { id: "fila-tipo", "aria-label": "Tipo" }, h("option", { value: "ingreso" }, "Ingreso"), h("option", { value: "egreso" }, "Egreso"));
  const banco = h("select", { id: "fila-banco", "aria-label": "Cuenta" }, h("option", { value: "" }, "cuenta principal"));
  const semana = input("fila-semana", "semana dd-mm-aaaa", 14, fecha(mondayOf(new Date())));
  const monto = input("fila-monto", "monto (0 quita la semana)", 14);
  const title = h("strong", {}, "Nueva fila: ");
  let editing: string | null = null;
  const el = h(
    "form",
    {
      class: "toolbar",
      id: "fila-form",
      onsubmit: (e: Event) => {
        e.preventDefault();
        void act(
          () =>
            api.treasuryRowSave({
              id: editing,
              concepto: concepto.value,
              tipo: tipo.value,
              banco_id: banco.value || null,
              montos: [{ semana: isoFromChilean(semana.value), monto: amountOf(monto, "El monto") }],
            }),
          "Fila guardada.",
        ).then((saved) => {
          if (!saved) return;
          editing = null;
          title.textContent = "Nueva fila: ";
        });
      },
    },
    title,
    concepto,
    tipo,
    banco,
    semana,
    monto,
    h("button", { type: "submit", id: "fila-save" }, "Guardar"),
  );
  const edit = (r: TreasuryRowDoc) => {
    editing = r.id;
    title.textContent = `Cambiar «${r.concepto}» (una semana a la vez): `;
    concepto.value = r.concepto;
    tipo.value = r.tipo;
    banco.value = r.banco_id ?? "";
    const first = r.montos[0];
    if (first) {
      semana.value = fecha(first.semana);
      monto.value = String(first.monto);
    }
    monto.focus();
  };
  const setBanks = (bs: TreasuryBankDoc[]) => {
    const keep = banco.value;
    banco.replaceChildren(h("option", { value: "" }, "cuenta principal"), ...bs.map((b) => h("option", { value: b.id }, b.nombre)));
    banco.value = bs.some((b) => b.id === keep) ? keep : "";
  };
  return { el, edit, setBanks };
}

function loanForm(act: Act): HTMLElement {
  const banco = input("prestamo-banco", "banco", 16);
  const descripcion = input("prestamo-descripcion", "descripción", 20);
  const monto = input("prestamo-monto", "capital", 12);
  const total = input("prestamo-total", "total de las cuotas", 14);
  const cuotas = h("input", { id: "prestamo-cuotas", type: "number", min: 1, max: 600, value: "12", "aria-label": "Cuotas" });
  const primera = input("prestamo-primera", "primera cuota dd-mm-aaaa", 14);
  return h(
    "form",
    {
      class: "toolbar",
      id: "prestamo-form",
      onsubmit: (e: Event) => {
        e.preventDefault();
        void act(
          () =>
            api.loanCreate({
              banco: banco.value,
              descripcion: descripcion.value,
              banco_id: null,
              monto: amountOf(monto, "El capital"),
              total_cuotas: amountOf(total, "El total de las cuotas"),
              cuotas: Number(cuotas.value),
              primera: isoFromChilean(primera.value),
            }),
          "Préstamo registrado.",
        );
      },
    },
    h("strong", {}, "Nuevo préstamo: "),
    banco,
    descripcion,
    monto,
    total,
    h("label", {}, "cuotas ", cuotas),
    primera,
    h("button", { type: "submit", id: "prestamo-save" }, "Registrar préstamo"),
  );
}
