// Pagos (the weekly payment run: prepare, edit, approve, bank file, mark paid) and Cuentas
// bancarias (suppliers' accounts, approved by a second person). Rust decides every
// permission; buttons only hide what the role cannot do.

import { api, type CesionImportReport, type CesionRow, type RunView, type SessionInfo, type SupplierAccount } from "../api";
import { clear, errorText, h, onDrop, say } from "../dom";
import { clp, fecha, fechaHora, rut } from "../format";
import { modal } from "./modal";

const RUN_STATES: Record<string, string> = {
  borrador: "borrador",
  aprobada: "aprobada",
  enviada: "enviada al banco",
  pagada: "pagada",
};

export function pagosScreen(session: SessionInfo): HTMLElement {
  const may = (p: string) => session.permissions.includes(p);
  const msg = h("p", { class: "msg", hidden: true, role: "alert", id: "pagos-msg" });
  const list = h("table", { id: "runs-table" });
  const detail = h("div", { id: "run-detail" });
  const corte = h("input", { id: "run-corte", size: 12, placeholder: "DD-MM-AAAA" });
  api.paymentCutoff().then((c) => (corte.value = fecha(c)), () => {});

  const fail = (e: unknown) => say(msg, errorText(e));
  const loadList = async () => {
    clear(list);
    list.append(h("tr", {}, h("th", {}, "N°"), h("th", {}, "Corte"), h("th", {}, "Estado"), h("th", {}, "Total"), h("th", {}, "Líneas")));
    const runs = await api.listRuns();
    for (const r of runs) {
      list.append(
        h(
          "tr",
          { class: "link", tabindex: 0, "data-run": String(r.numero), onclick: () => show(r.id).catch(fail), onkeydown: (e: Event) => {
              if ((e as KeyboardEvent).key === "Enter") show(r.id).catch(fail);
            },
          },
          h("td", {}, r.numero),
          h("td", {}, fecha(r.corte)),
          h("td", {}, RUN_STATES[r.estado] ?? r.estado),
          h("td", { class: "num" }, clp(r.total)),
          h("td", { class: "num" }, r.lineas_incluidas),
        ),
      );
    }
    if (!runs.length) list.append(h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No hay nóminas.")));
  };

  const draw = (v: RunView) => {
    const id = v.id;
    const refresh = async (p: Promise<RunView>) => {
      try {
        draw(await p);
        await loadList();
      } catch (e) {
        fail(e);
      }
    };
    const draft = v.estado === "borrador";
    const actions = h("div", { class: "actions" });
    if (draft && may("approve_runs")) {
      actions.append(
        h(
          "button",
          {
            class: "primary",
            id: "run-approve",
            onclick: () =>
              modal(`¿Aprobar la nómina N° ${v.numero} por ${clp(v.total)}? Después no se puede cambiar.`, [], async () => {
                draw(await api.approveRun(id));
                await loadList();
              }),
          },
          "Aprobar nómina",
        ),
      );
    }
    if ((v.estado === "aprobada" || v.estado === "enviada") && may("pay")) {
      const path = h("input", { id: "bank-path", size: 40, placeholder: "ruta del archivo, por ejemplo /home/usuario/nomina.xlsx" });
      actions.append(
        path,
        h(
          "button",
          {
            id: "bank-file",
            onclick: async () => {
              try {
                const r = await api.runBankFile(id, path.value);
                say(msg, `Archivo del banco guardado en ${r.archivo}: ${r.transferencias} transferencias por ${clp(r.total)}.`, "ok");
                draw(await api.showRun(id));
              } catch (e) {
                fail(e);
              }
            },
          },
          "Archivo del banco",
        ),
      );
      if (v.estado === "aprobada") actions.append(h("button", { id: "run-sent", onclick: () => refresh(api.markRunSent(id)) }, "Marcar enviada"));
      actions.append(
        h(
          "button",
          {
            id: "run-paid",
            onclick: () =>
              modal("Marcar nómina pagada", [{ id: "fecha", label: "Fecha del pago (DD-MM-AAAA; hoy si se deja vacía)" }], async (x) => {
                draw(await api.markRunPaid(id, x.fecha.trim() || null));
                await loadList();
              }),
          },
          "Marcar pagada…",
        ),
      );
    }
    if (may("prepare_runs") || may("approve_runs")) {
      actions.append(
        h(
          "button",
          {
            id: "run-email",
            onclick: () =>
              modal(`¿Enviar la nómina N° ${v.numero} por correo a los destinatarios configurados?`, [], async () => {
                const r = await api.emailRun(id);
                say(msg, `Nómina N° ${r.numero} enviada a ${r.destinatarios.join(", ")} con ${r.adjunto} adjunta.`, "ok");
              }),
          },
          "Enviar por correo…",
        ),
      );
    }
    const reportPath = h("input", { id: "report-path", size: 40, placeholder: "ruta del informe, por ejemplo /home/usuario/nomina-informe.xlsx" });
    actions.append(
      reportPath,
      h(
        "button",
        {
          id: "run-report",
          onclick: async () => {
            try {
              say(msg, `Informe guardado en ${await api.runReport(id, reportPath.value)}.`, "ok");
            } catch (e) {
              fail(e);
            }
          },
        },
        "Informe Excel",
      ),
    );
    const lines = h(
      "table",
      { id: "run-lines" },
      h(
        "tr",
        {},
        h("th", {}, "Pagar"),
        h("th", {}, "Documento"),
        h("th", {}, "Beneficiario"),
        h("th", {}, "Vence"),
        h("th", {}, "Saldo"),
        h("th", {}, "Monto"),
        h("th", {}, "Nota"),
        draft ? h("th", {}, "") : "",
      ),
      ...v.lineas.map((l) =>
        h(
          "tr",
          { class: l.incluida ? "" : "muted", "data-doc": l.documento },
          h(
            "td",
            {},
            h("input", {
              type: "checkbox",
              checked: l.incluida,
              // of an approved run a line can only be taken out, and only when it is no
              // longer owed as approved (Rust decides; a refusal says why and redraws)
              disabled: !may("prepare_runs") || !(draft || (v.estado === "aprobada" && l.incluida)),
              "aria-label": `Pagar ${l.documento}`,
              onchange: async (e: Event) => {
                try {
                  draw(await api.setRunLine(id, l.documento, (e.target as HTMLInputElement).checked, null));
                  await loadList();
                } catch (err) {
                  fail(err);
                  // the checkbox shows what is stored again (the message stays)
                  try {
                    draw(await api.showRun(id));
                    fail(err);
                  } catch {
                    // the message above already says what went wrong
                  }
                }
              },
            }),
          ),
          h("td", {}, `${l.folio} · ${l.proveedor}`),
          h("td", {}, `${l.beneficiario}${l.cedida ? " (cesionario)" : ""}`),
          h("td", {}, fecha(l.vence)),
          h("td", { class: "num" }, clp(l.saldo)),
          h("td", { class: "num" }, clp(l.monto)),
          h("td", {}, l.nota ?? ""),
          draft && may("prepare_runs")
            ? h(
                "td",
                {},
                h(
                  "button",
                  {
                    type: "button",
                    onclick: () =>
                      modal(`Pago parcial de ${l.documento}`, [{ id: "monto", label: `Monto (a lo más ${clp(l.saldo)})`, value: String(l.monto) }], async (x) => {
                        draw(await api.setRunLine(id, l.documento, null, x.monto));
                        await loadList();
                      }),
                  },
                  "Parcial…",
                ),
              )
            : "",
        ),
      ),
    );
    const payees = h(
      "table",
      { id: "run-payees" },
      h("tr", {}, h("th", {}, "RUT"), h("th", {}, "Beneficiario"), h("th", {}, "Facturas"), h("th", {}, "Total"), h("th", {}, "Cuenta")),
      ...v.beneficiarios.map((p) =>
        h(
          "tr",
          {},
          h("td", {}, rut(p.rut)),
          h("td", {}, p.nombre),
          h("td", { class: "num" }, p.lineas),
          h("td", { class: "num" }, clp(p.total)),
          h("td", { class: p.con_cuenta ? "" : "msg-error" }, p.con_cuenta ? "aprobada" : "sin cuenta aprobada"),
        ),
      ),
    );
    detail.replaceChildren(
      h("h2", { id: "run-title" }, `Nómina N° ${v.numero} — corte ${fecha(v.corte)} — ${RUN_STATES[v.estado] ?? v.estado} — ${clp(v.total)}`),
      h(
        "p",
        { class: "muted" },
        `Preparada por ${v.created_by} el ${fechaHora(v.created_at)}`,
        v.approved_by ? `; aprobada por ${v.approved_by}` : "",
        v.paid_by ? `; pagada, marcada por ${v.paid_by}` : "",
        v.bank_file_sha256 ? `; archivo del banco SHA-256 ${v.bank_file_sha256.slice(0, 16)}…` : "",
      ),
      actions,
      h("h3", {}, "Por beneficiario"),
      payees,
      h("h3", {}, "Facturas"),
      lines,
    );
  };
  const show = async (id: string) => draw(await api.showRun(id));

  const root = h(
    "section",
    { class: "screen", id: "pagos" },
    h("h1", {}, "Pagos"),
    msg,
    may("prepare_runs")
      ? h(
          "form",
          {
            class: "toolbar",
            onsubmit: async (e: Event) => {
              e.preventDefault();
              try {
                const v = await api.createRun(corte.value.trim() || null);
                say(msg, `Nómina N° ${v.numero} preparada con ${v.lineas_incluidas} facturas.`, "ok");
                draw(v);
                await loadList();
              } catch (err) {
                fail(err);
              }
            },
          },
          h("label", {}, "Corte ", corte),
          h("button", { type: "submit", class: "primary", id: "run-new" }, "Nueva nómina"),
        )
      : "",
    list,
    detail,
  );
  loadList().catch(fail);
  return root;
}

const ACCOUNT_STATES: Record<string, string> = {
  pendiente: "pendiente de aprobación",
  aprobada: "aprobada",
  reemplazada: "reemplazada",
  descartada: "descartada",
};

export function cuentasScreen(session: SessionInfo): HTMLElement {
  const may = (p: string) => session.permissions.includes(p);
  const msg = h("p", { class: "msg", hidden: true, role: "alert", id: "cuentas-msg" });
  const table = h("table", { id: "accounts-table" });
  const filter = h(
    "select",
    { id: "accounts-estado", onchange: () => load() },
    h("option", { value: "" }, "todas"),
    ...Object.entries(ACCOUNT_STATES).map(([k, label]) => h("option", { value: k }, label)),
  );
  const row = (a: SupplierAccount) =>
    h(
      "tr",
      { "data-id": a.id },
      h("td", {}, rut(a.rut)),
      h("td", {}, a.proveedor ?? a.titular_nombre),
      h("td", {}, `${a.banco} ${a.banco_nombre}`),
      h("td", {}, a.tipo_cuenta),
      h("td", {}, a.numero),
      h("td", {}, `${a.titular_nombre} (${rut(a.titular_rut)})`),
      h("td", {}, ACCOUNT_STATES[a.estado] ?? a.estado),
      h("td", {}, `${a.created_by}${a.decided_by ? ` / ${a.decided_by}` : ""}`),
      h(
        "td",
        {},
        a.duplicada ? h("strong", { class: "msg-error" }, "¡mismo número que otro proveedor! ") : "",
        a.estado === "pendiente" && may("approve_bank_accounts") && a.created_by !== session.username
          ? h(
              "button",
              {
                type: "button",
                class: "approve-account",
                onclick: () =>
                  modal(`¿Aprobar la cuenta ${a.numero} de ${a.proveedor ?? a.rut}? Desde entonces se le paga a esa cuenta.`, [], async () => {
                    await api.approveBankAccount(a.id);
                    say(msg, "Cuenta aprobada.", "ok");
                    await load();
                  }),
              },
              "Aprobar",
            )
          : "",
      ),
    );
  const load = async () => {
    clear(table);
    table.append(
      h(
        "tr",
        {},
        ...["RUT", "Proveedor", "Banco", "Tipo", "Número", "Titular", "Estado", "Ingresó / decidió", ""].map((t) => h("th", {}, t)),
      ),
    );
    try {
      const accounts = await api.listBankAccounts(filter.value || null);
      table.append(...accounts.map(row));
      if (!accounts.length) table.append(h("tr", {}, h("td", { colspan: 9, class: "muted" }, "No hay cuentas.")));
    } catch (e) {
      say(msg, errorText(e));
    }
  };
  const field = (id: string, label: string, size = 20) => {
    const input = h("input", { id: `acc-${id}`, size });
    return { input, el: h("label", { class: "field" }, h("span", {}, label), input) };
  };
  const f = {
    rut: field("rut", "RUT del proveedor", 14),
    banco: field("banco", "Banco (código o nombre)", 16),
    tipo: field("tipo", "Tipo: corriente, vista, ahorro o rut", 12),
    numero: field("numero", "Número de cuenta", 20),
    titular: field("titular", "Nombre del titular", 30),
    titularRut: field("titular-rut", "RUT del titular (si no es el proveedor)", 14),
    email: field("email", "Correo para el aviso", 24),
  };
  f.tipo.input.value = "corriente";
  const form = may("enter_bank_accounts")
    ? h(
        "form",
        {
          id: "account-form",
          class: "card",
          onsubmit: async (e: Event) => {
            e.preventDefault();
            try {
              const a = await api.addBankAccount({
                rut: f.rut.input.value,
                banco: f.banco.input.value,
                tipo: f.tipo.input.value,
                numero: f.numero.input.value,
                titular_nombre: f.titular.input.value,
                titular_rut: f.titularRut.input.value.trim() || null,
                email: f.email.input.value.trim() || null,
              });
              say(msg, `Cuenta ${a.numero} de ${rut(a.rut)} ingresada: queda pendiente hasta que otra persona la apruebe.`, "ok");
              for (const x of Object.values(f)) if (x !== f.tipo) x.input.value = "";
              await load();
            } catch (err) {
              say(msg, errorText(err));
            }
          },
        },
        h("h2", {}, "Ingresar o cambiar una cuenta"),
        ...Object.values(f).map((x) => x.el),
        h("button", { type: "submit", class: "primary", id: "acc-submit" }, "Ingresar cuenta"),
      )
    : "";
  const root = h(
    "section",
    { class: "screen", id: "cuentas" },
    h("h1", {}, "Cuentas bancarias de proveedores"),
    h(
      "p",
      { class: "muted" },
      "Una cuenta nueva o cambiada no se paga hasta que otra persona con permiso la apruebe. Las anteriores quedan en el historial.",
    ),
    msg,
    form,
    h("label", {}, "Mostrar ", filter),
    table,
  );
  load();
  return root;
}

/** What an import of cesión files did, file by file. */
export function cesionReport(r: CesionImportReport): HTMLElement {
  const kinds: Record<string, string> = { aec: "AEC (XML)", sii_txt: "consulta de cesiones del SII", certificado: "certificado o aviso" };
  return h(
    "div",
    { id: "cesion-report" },
    ...r.files.map((f) =>
      h(
        "div",
        {},
        h("h3", {}, f.file),
        h(
          "p",
          { class: "muted" },
          `${f.kind ? kinds[f.kind] : "no reconocido"}: ${f.cesiones} cesiones (${f.nuevas} nuevas), ${f.matched} con su factura, ${f.unmatched} en revisión.`,
        ),
        f.errors.length
          ? h(
              "ul",
              { class: "errors" },
              ...f.errors.map((e) => h("li", { class: "error-row" }, e.message)),
            )
          : "",
      ),
    ),
  );
}

/** Pagos › Cesiones: every cesión, the ones whose invoice is not here yet first. */
export function cesionesScreen(session: SessionInfo): HTMLElement {
  const may = (p: string) => session.permissions.includes(p);
  const msg = h("p", { class: "msg", hidden: true, role: "alert", id: "cesiones-msg" });
  const table = h("table", { id: "cesiones-table" });
  const report = h("div", {});
  const row = (c: CesionRow) =>
    h(
      "tr",
      { class: c.invoice_id ? "" : "review" },
      h("td", {}, c.documento),
      h("td", {}, c.seq),
      h("td", {}, fechaHora(c.fecha)),
      h("td", {}, `${c.cedente_nombre ?? ""} ${rut(c.cedente_rut)}`.trim()),
      h("td", {}, `${c.cesionario_nombre} ${rut(c.cesionario_rut)}`),
      h("td", { class: "num" }, clp(c.monto_cedido)),
      h("td", {}, c.invoice_id ? "con su factura" : "en revisión: la factura aún no llega"),
    );
  const load = async () => {
    try {
      const all = await api.listCesiones();
      clear(table);
      table.append(
        h("tr", {}, h("th", {}, "Documento"), h("th", {}, "N°"), h("th", {}, "Fecha"), h("th", {}, "Cedente"), h("th", {}, "Cesionario"), h("th", {}, "Monto cedido"), h("th", {}, "Estado")),
        ...all.map(row),
      );
      if (!all.length) table.append(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No hay cesiones registradas.")));
    } catch (e) {
      say(msg, errorText(e));
    }
  };
  const importPaths = async (paths: string[]) => {
    if (!paths.length) return;
    say(msg, "");
    try {
      const r = await api.importCesiones(paths);
      report.replaceChildren(cesionReport(r));
      await load();
    } catch (e) {
      say(msg, errorText(e));
    }
  };
  const path = h("input", { id: "cesion-path", size: 50, placeholder: "ruta del AEC, de la consulta del SII o del certificado" });
  const form = may("prepare_runs")
    ? h(
        "form",
        {
          class: "toolbar",
          onsubmit: (e: Event) => {
            e.preventDefault();
            void importPaths([path.value.trim()].filter(Boolean));
          },
        },
        path,
        h("button", { type: "submit", id: "cesion-import" }, "Importar cesiones"),
      )
    : "";
  const root = h(
    "section",
    { class: "screen", id: "cesiones" },
    h("h1", {}, "Cesiones"),
    h(
      "p",
      { class: "muted" },
      "Facturas vendidas a un factoring: se pagan al último cesionario. Se reconocen el AEC (XML), la consulta de cesiones del SII y los certificados con texto; las firmas no se verifican.",
    ),
    msg,
    form,
    report,
    table,
  );
  if (may("prepare_runs")) onDrop(root, (paths) => void importPaths(paths));
  void load();
  return root;
}
