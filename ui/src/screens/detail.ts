// Detalle: every field, taxes and references, the history, approve or reject with a comment.

import { showAttachment } from "./viewer";
import { api, chooseAttachment, type InvoiceView, type SessionInfo } from "../api";
import { errorText, h, onDrop, say } from "../dom";
import { clp, estadoLabel, fecha, fechaHora, PLAZO_LABELS, rut } from "../format";
import { modal } from "./modal";

const AGING: Record<string, string> = {
  al_dia: "al día",
  d1a30: "1–30 días",
  d31a60: "31–60 días",
  d61a90: "61–90 días",
  mas90: "más de 90 días",
};

function dl(rows: Array<[string, string | number | null | undefined]>): HTMLElement {
  const el = h("dl", { class: "facts" });
  for (const [k, v] of rows) {
    el.append(h("dt", {}, k), h("dd", {}, v === null || v === undefined || v === "" ? "—" : String(v)));
  }
  return el;
}

const MEDIOS: Record<string, string> = {
  transferencia: "transferencia",
  cheque: "cheque",
  vale_vista: "vale vista",
  compensacion: "compensación",
  otro: "otro",
};

// The money side: balance (total − credit notes − payments), each payment, late interest.
function paymentsBox(v: InvoiceView, record: () => void): HTMLElement | string {
  const p = v.pagos;
  if (!p) return "";
  const s = p.saldo;
  const mora = p.mora && p.mora.dias > 0 ? p.mora : null;
  return h(
    "div",
    { id: "detail-payments" },
    h("h2", {}, "Pagos"),
    dl([
      ["Total", clp(s.total)],
      ["Notas de crédito", clp(s.notas_credito)],
      ["Pagado", clp(s.pagado)],
      ["Saldo", clp(s.saldo)],
      ["Vence", `${fecha(v.vence)} (${v.vence_fuente_nombre})`],
      [
        "Mora",
        mora
          ? `${mora.dias} días: interés ${clp(mora.interes)} y cargo de cobranza ${clp(mora.cargo_cobranza)}${
              mora.meses_sin_tasa.length ? ` (faltan las tasas de ${mora.meses_sin_tasa.join(", ")})` : ""
            }`
          : "sin mora",
      ],
    ]),
    p.pagos.length
      ? h(
          "table",
          { id: "detail-payments-list" },
          h("tr", {}, h("th", {}, "Fecha"), h("th", {}, "Monto"), h("th", {}, "Medio"), h("th", {}, "Referencia"), h("th", {}, "Registró")),
          ...p.pagos.map((x) =>
            h(
              "tr",
              {},
              h("td", {}, fecha(x.fecha)),
              h("td", { class: "num" }, clp(x.monto)),
              h("td", {}, MEDIOS[x.medio] ?? x.medio),
              h("td", {}, x.referencia ?? ""),
              h("td", {}, x.created_by),
            ),
          ),
        )
      : h("p", { class: "muted" }, "Sin pagos registrados."),
    p.acepta_pago
      ? h("button", { type: "button", id: "detail-pay", onclick: record }, "Registrar pago…")
      : "",
  );
}

// Where the invoice stands in Kame (only once it was sent).
function kameBox(v: InvoiceView): HTMLElement | string {
  const k = v.kame;
  if (!k) return "";
  const estado: Record<string, string> = {
    publicado: k.kame_id ? `contabilizada (comprobante ${k.kame_id})` : "contabilizada",
    enviando: "enviada sin respuesta de Kame: se verifica antes de reenviar",
    rechazado: "Kame la rechazó",
    no_enviado: "no se pudo enviar",
  };
  return h(
    "p",
    { id: "detail-kame", class: k.estado === "publicado" ? "muted" : "msg" },
    `Kame: ${estado[k.estado] ?? k.estado}${k.error ? ` (${k.error})` : ""}.`,
  );
}

// The cesiones of the invoice, in chain order: the last cesionario is who is paid.
function cesionesBox(v: InvoiceView): HTMLElement | string {
  if (!v.cesiones.length) return "";
  const last = v.cesiones[v.cesiones.length - 1];
  return h(
    "div",
    { id: "detail-cesiones" },
    h("h2", {}, "Cesiones"),
    h("p", {}, `Se paga a ${last.cesionario_nombre} (${rut(last.cesionario_rut)}), cesionario de la cesión ${last.seq}.`),
    h(
      "table",
      { id: "detail-cesiones-list" },
      h("tr", {}, h("th", {}, "N°"), h("th", {}, "Fecha"), h("th", {}, "Cedente"), h("th", {}, "Cesionario"), h("th", {}, "Monto cedido"), h("th", {}, "Origen")),
      ...v.cesiones.map((c) =>
        h(
          "tr",
          {},
          h("td", {}, c.seq),
          h("td", {}, fechaHora(c.fecha)),
          h("td", {}, `${c.cedente_nombre ?? ""} ${rut(c.cedente_rut)}`.trim()),
          h("td", {}, `${c.cesionario_nombre} ${rut(c.cesionario_rut)}`),
          h("td", { class: "num" }, clp(c.monto_cedido)),
          h("td", {}, CESION_SOURCES[c.source] ?? c.source),
        ),
      ),
    ),
    h("p", { class: "muted" }, "Las firmas de los archivos de cesión no se verifican: el registro del SII es la fuente oficial."),
  );
}

const CESION_SOURCES: Record<string, string> = {
  manual: "ingreso manual",
  aec: "AEC (XML)",
  sii_txt: "consulta SII",
  certificado: "certificado",
};

export function detailScreen(session: SessionInfo, start: string, back: () => void): HTMLElement {
  let id = start;
  const attachmentsBox = (v: InvoiceView, msg: HTMLElement): HTMLElement => {
    const add = async (path: string | null) => {
      if (!path) return;
      try {
        await api.addAttachment(id, path);
        await load();
      } catch (e) {
        say(msg, errorText(e));
      }
    };
    const pathInput = h("input", { id: "attach-path", size: 50, placeholder: "…o escriba la ruta del archivo" });
    return h(
      "div",
      { id: "detail-attachments" },
      h("h2", {}, "Adjuntos"),
      v.adjuntos.length
        ? h(
            "ul",
            { class: "files" },
            ...v.adjuntos.map((a) =>
              h(
                "li",
                {},
                `${a.file_name} (${Math.max(1, Math.round(a.size / 1024))} KB, ${a.added_by}) `,
                h("button", { type: "button", class: "view-attachment", onclick: () => showAttachment(a.id, a.file_name) }, "Ver"),
                " ",
                h("button", { type: "button", onclick: () => api.openAttachment(a.id).catch((e) => say(msg, errorText(e))) }, "Abrir fuera"),
              ),
            ),
          )
        : h("p", { class: "muted" }, "Sin adjuntos. Arrastre aquí el PDF o el XML de la factura."),
      session.permissions.includes("review")
        ? h(
            "div",
            { class: "toolbar" },
            h("button", { type: "button", id: "attach-choose", onclick: async () => add(await chooseAttachment()) }, "Adjuntar PDF o XML…"),
            pathInput,
            h("button", { type: "button", id: "attach-add", onclick: () => add(pathInput.value.trim() || null) }, "Adjuntar"),
          )
        : "",
    );
  };
  const root = h("section", { class: "screen detail", id: "detail" }, h("p", {}, "Cargando…"));
  const load = async () => {
    try {
      const [v, hist] = await Promise.all([api.showInvoice(id), api.history(id)]);
      draw(v, hist);
    } catch (e) {
      root.replaceChildren(h("p", { class: "msg msg-error" }, errorText(e)), h("button", { onclick: back }, "Volver"));
    }
  };
  const draw = (v: InvoiceView, hist: Awaited<ReturnType<typeof api.history>>) => {
    const msg = h("p", { class: "msg", hidden: true, role: "alert", id: "detail-msg" });
    const act = async (estado: string, motivo: string | null) => {
      const r = await api.setStatus([id], estado, motivo);
      if (r.failed.length) throw r.failed[0];
      await load();
    };
    const actions = h("div", { class: "actions" });
    // Rust says which statuses this user may move it to from here
    const to = (estado: string) => v.cambios_de_estado.includes(estado);
    if (to("aprobada")) {
      actions.append(
        h(
          "button",
          {
            class: "primary",
            id: "detail-approve",
            onclick: () =>
              modal("Aprobar factura", [{ id: "comentario", label: "Comentario (opcional)" }], (x) =>
                act("aprobada", x.comentario.trim() || null),
              ),
          },
          "Aprobar…",
        ),
      );
    }
    if (to("rechazada")) {
      actions.append(
        h(
          "button",
          {
            id: "detail-reject",
            onclick: () => modal("Rechazar factura", [{ id: "motivo", label: "Motivo del rechazo (obligatorio)" }], (x) => act("rechazada", x.motivo)),
          },
          "Rechazar…",
        ),
      );
    }
    if (to("en_revision")) {
      actions.append(h("button", { id: "detail-review", onclick: () => act("en_revision", null).catch((e) => say(msg, errorText(e))) }, "Poner en revisión"));
    }
    const plazo = v.plazo_reclamo_estado ?? "";
    root.replaceChildren(
      h(
        "header",
        { class: "detail-head" },
        h("button", { onclick: back, id: "detail-back", title: "Volver (Escape)" }, "← Volver"),
        h("h1", {}, `${v.tipo_dte_nombre} N° ${v.folio}`),
        h("span", { class: `badge estado-${v.estado}`, id: "detail-estado" }, estadoLabel(v.estado)),
      ),
      msg,
      actions,
      h(
        "div",
        { class: "columns" },
        h(
          "div",
          {},
          h("h2", {}, "Documento"),
          dl([
            ["Proveedor", v.razon_social],
            ["RUT", rut(v.rut_emisor)],
            ["Tipo", v.tipo_dte_nombre],
            ["Folio", v.folio],
            ["Emisión", fecha(v.fecha_emision)],
            ["Recepción SII", fechaHora(v.fecha_recepcion_sii)],
            ["Vencimiento", fecha(v.vence)],
            [
              "Plazo de reclamo",
              v.plazo_reclamo && v.plazo_reclamo !== "desconocido"
                ? `${fecha(v.plazo_reclamo)} — ${PLAZO_LABELS[plazo] ?? plazo}${v.plazo_reclamo_dias !== null ? ` (${v.plazo_reclamo_dias} días)` : ""}`
                : PLAZO_LABELS[plazo] ?? plazo,
            ],
            ["Antigüedad de la deuda", v.antiguedad ? AGING[v.antiguedad] ?? v.antiguedad : "—"],
            ["Orden de compra", v.orden_compra],
            ["Origen", v.source],
            ["Motivo de rechazo", v.motivo_rechazo],
          ]),
        ),
        h(
          "div",
          {},
          h("h2", {}, "Montos"),
          dl([
            ["Neto", clp(v.monto_neto)],
            ["Exento", clp(v.monto_exento)],
            ["IVA", clp(v.monto_iva)],
            ["Otros impuestos", clp(v.monto_otros)],
            ["Total", clp(v.monto_total)],
          ]),
          h("h2", {}, "Asignación"),
          dl([
            ["Obra", v.obra],
            ["Centro de costo", v.centro_costo],
            ["Cuenta", v.cuenta],
            ["Glosa", v.glosa],
          ]),
        ),
      ),
      v.otros_impuestos.length
        ? h(
            "div",
            {},
            h("h2", {}, "Otros impuestos"),
            h(
              "table",
              {},
              h("tr", {}, h("th", {}, "Código"), h("th", {}, "Tasa"), h("th", {}, "Valor")),
              ...v.otros_impuestos.map((o) => h("tr", {}, h("td", {}, o.codigo), h("td", {}, o.tasa ?? ""), h("td", { class: "num" }, clp(o.valor)))),
            ),
          )
        : "",
      paymentsBox(v, () =>
        modal(
          "Registrar pago",
          [
            { id: "monto", label: "Monto en pesos", value: String(v.pagos?.saldo.saldo ?? "") },
            { id: "fecha", label: "Fecha del pago (DD-MM-AAAA; hoy si se deja vacía)" },
            { id: "medio", label: "Medio: transferencia, cheque, vale_vista, compensacion u otro", value: "transferencia" },
            { id: "referencia", label: "Referencia (N° de operación o de cheque)" },
          ],
          async (x) => {
            await api.recordPayment(id, x.monto, x.fecha.trim() || null, x.medio.trim() || null, x.referencia.trim() || null);
            await load();
          },
        ),
      ),
      cesionesBox(v),
      kameBox(v),
      attachmentsBox(v, msg),
      v.relacionados.length
        ? h(
            "div",
            {},
            h("h2", {}, "Notas de crédito y débito que la corrigen"),
            h(
              "table",
              { id: "detail-linked" },
              h("tr", {}, h("th", {}, "Documento"), h("th", {}, "Folio"), h("th", {}, "Emisión"), h("th", {}, "Total"), h("th", {}, "Estado")),
              ...v.relacionados.map((r) =>
                h(
                  "tr",
                  { class: "link", ondblclick: () => ((id = r.id), load()) },
                  h("td", {}, r.tipo_dte),
                  h("td", {}, r.folio),
                  h("td", {}, fecha(r.fecha_emision)),
                  h("td", { class: "num" }, clp(r.monto_total)),
                  h("td", {}, estadoLabel(r.estado)),
                ),
              ),
            ),
          )
        : "",
      h(
        "div",
        {},
        h("h2", {}, "Referencias"),
        v.referencias.length
          ? h(
              "table",
              { id: "detail-refs" },
              h("tr", {}, h("th", {}, "Tipo"), h("th", {}, "Folio"), h("th", {}, "Fecha"), h("th", {}, "Razón")),
              ...v.referencias.map((r) =>
                h("tr", {}, h("td", {}, r.tipo), h("td", {}, r.folio), h("td", {}, fecha(r.fecha)), h("td", {}, r.razon ?? "")),
              ),
            )
          : h("p", { class: "muted" }, "Sin referencias."),
      ),
      h(
        "div",
        {},
        h("h2", {}, "Historial"),
        h(
          "table",
          { id: "detail-history" },
          h("tr", {}, h("th", {}, "Fecha (hora de Chile)"), h("th", {}, "Usuario"), h("th", {}, "Acción"), h("th", {}, "Campo"), h("th", {}, "Antes"), h("th", {}, "Después")),
          ...hist.map((a) =>
            h(
              "tr",
              {},
              h("td", {}, a.fecha_local),
              h("td", {}, a.user_name),
              h("td", {}, a.accion),
              h("td", {}, a.field ?? ""),
              h("td", {}, a.old_value ?? ""),
              h("td", {}, a.new_value ?? ""),
            ),
          ),
        ),
      ),
    );
  };
  onDrop(root, async (paths) => {
    for (const p of paths) {
      try {
        await api.addAttachment(id, p);
      } catch (err) {
        const box = root.querySelector<HTMLElement>("#detail-msg");
        if (box) say(box, errorText(err));
      }
    }
    load();
  });
  root.addEventListener("keydown", (e) => {
    if ((e as KeyboardEvent).key === "Escape" && !document.querySelector(".overlay")) back();
  });
  root.tabIndex = -1;
  load().then(() => root.focus());
  return root;
}
