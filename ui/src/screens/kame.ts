// Contabilidad: posting invoices to Kame (one voucher each, never twice: Rust records each
// before and after sending), the results with retry, the templates per concepto de compra,
// the suppliers' fichas and the access settings (the secret goes straight to the OS keyring
// and is never shown again).

import { api, type Envio, type ListFilter, type Plantilla, type PostReport } from "../api";
import { clear, errorText, h, say } from "../dom";
import { fecha, fechaHora, isoFromChilean, thousands } from "../format";
import { jobView } from "./jobs";
import { confirmDialog } from "./modal";

const RESULTADO: Record<string, string> = {
  publicado: "contabilizada",
  ya_publicado: "ya estaba contabilizada",
  recuperado: "ya estaba en Kame (respuesta perdida)",
  rechazado: "no contabilizada",
  incierto: "sin respuesta de Kame: se verificará al reintentar",
  no_enviado: "no enviada",
};

const ESTADO: Record<string, string> = {
  enviando: "sin respuesta (se verifica antes de reenviar)",
  publicado: "contabilizada",
  rechazado: "rechazada",
  no_enviado: "no enviada",
};

function isoToday(offsetDays = 0): string {
  const d = new Date();
  d.setDate(d.getDate() + offsetDays);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

/** One line saying how a posting run ended. */
export function summaryText(r: PostReport): string {
  return (
    `${thousands(r.publicadas)} contabilizadas, ${thousands(r.ya_publicadas)} ya estaban, ` +
    `${thousands(r.rechazadas)} rechazadas, ${thousands(r.pendientes)} pendientes.`
  );
}

/** The invoices a retry sends again: every one not posted. */
export function retryIds(envios: Envio[]): string[] {
  return envios.filter((e) => e.estado !== "publicado").map((e) => e.invoice_id);
}

/** Results worth a row: everything but those found already posted. */
export function resultRows(r: PostReport): PostReport["resultados"] {
  return r.resultados.filter((x) => x.resultado !== "ya_publicado");
}

/** The results of one posting run. */
function postSummary(r: PostReport): HTMLElement {
  const head = h("p", { id: "kame-summary" }, summaryText(r));
  const rows = resultRows(r);
  if (!rows.length) return h("div", {}, head);
  return h(
    "div",
    {},
    head,
    h(
      "table",
      { id: "kame-results" },
      h("tr", {}, h("th", {}, "Documento"), h("th", {}, "Resultado"), h("th", {}, "Comprobante"), h("th", {}, "Motivo")),
      ...rows.map((x) =>
        h(
          "tr",
          { class: x.resultado === "publicado" || x.resultado === "recuperado" ? "" : "review" },
          h("td", {}, x.documento ?? x.id),
          h("td", {}, RESULTADO[x.resultado] ?? x.resultado),
          h("td", {}, x.kame_id ?? "—"),
          h("td", {}, x.mensaje ?? ""),
        ),
      ),
    ),
  );
}

function plantillaForm(onSaved: () => void): HTMLElement {
  const input = (id: string, placeholder: string, size = 10) => h("input", { id, placeholder, size });
  const concepto = input("plantilla-concepto", "concepto", 16);
  const neto = input("plantilla-neto", "cuenta neto");
  const exento = input("plantilla-exento", "cuenta exento");
  const iva = input("plantilla-iva", "cuenta IVA");
  const otros = input("plantilla-otros", "otros impuestos");
  const proveedor = input("plantilla-proveedor", "proveedores");
  const tipo = h(
    "select",
    { id: "plantilla-tipo" },
    h("option", { value: "TRASPASO" }, "Traspaso"),
    h("option", { value: "EGRESO" }, "Egreso"),
    h("option", { value: "INGRESO" }, "Ingreso"),
  );
  const misma = h("input", { type: "checkbox", id: "plantilla-misma" });
  const msg = h("p", { class: "msg", hidden: true, role: "alert" });
  const opt = (el: HTMLInputElement) => (el.value.trim() ? el.value.trim() : null);
  return h(
    "form",
    {
      class: "toolbar",
      id: "plantilla-form",
      onsubmit: async (e: Event) => {
        e.preventDefault();
        say(msg, "");
        const p: Plantilla = {
          concepto: concepto.value.trim(),
          cuenta_neto: neto.value.trim(),
          cuenta_exento: opt(exento),
          cuenta_iva: iva.value.trim(),
          cuenta_otros: opt(otros),
          cuenta_proveedor: proveedor.value.trim(),
          tipo: tipo.value as Plantilla["tipo"],
          misma_cuenta: misma.checked,
        };
        try {
          await api.kameSetPlantilla(p);
          say(msg, `Plantilla «${p.concepto}» guardada.`, "ok");
          onSaved();
        } catch (err) {
          say(msg, errorText(err));
        }
      },
    },
    concepto,
    neto,
    exento,
    iva,
    otros,
    proveedor,
    tipo,
    h("label", {}, misma, " proveedores puede ir también al debe"),
    h("button", { type: "submit", id: "plantilla-save" }, "Guardar plantilla"),
    msg,
  );
}

export function kameScreen(): HTMLElement {
  const msg = h("p", { class: "msg", hidden: true, role: "alert", id: "kame-msg" });
  const job = jobView();
  const result = h("div", { id: "kame-result" });
  const envios = h("table", { id: "kame-envios" });
  const plantillas = h("table", { id: "kame-plantillas" });
  const status = h("p", { class: "muted", id: "kame-status" });
  const dateBox = (id: string, iso: string) => h("input", { id, size: 12, placeholder: "dd-mm-aaaa", value: fecha(iso) });
  const desde = dateBox("kame-desde", isoToday(-30));
  const hasta = dateBox("kame-hasta", isoToday(0));
  const isoOf = (el: HTMLInputElement) => (el.value.trim() ? isoFromChilean(el.value) : null);
  let pendientes: string[] = [];

  const loadEnvios = async () => {
    const all = await api.kameEnvios();
    pendientes = retryIds(all);
    retry.disabled = pendientes.length === 0;
    retry.textContent = pendientes.length ? `Reintentar ${thousands(pendientes.length)} pendientes` : "Sin pendientes";
    clear(envios);
    envios.append(
      h("tr", {}, h("th", {}, "Documento"), h("th", {}, "Estado"), h("th", {}, "Comprobante"), h("th", {}, "Intentos"), h("th", {}, "Último cambio"), h("th", {}, "Error")),
      ...all.slice(0, 500).map((e) =>
        h(
          "tr",
          { class: e.estado === "publicado" ? "" : "review" },
          h("td", {}, e.documento),
          h("td", {}, (ESTADO[e.estado] ?? e.estado) + (e.recuperado ? " (recuperada)" : "")),
          h("td", {}, e.kame_id ?? "—"),
          h("td", { class: "num" }, e.intentos),
          h("td", {}, fechaHora(e.updated_at)),
          h("td", {}, e.error ?? ""),
        ),
      ),
    );
    if (!all.length) envios.append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "Aún no se ha contabilizado nada.")));
  };
  const loadPlantillas = async () => {
    const all = await api.kamePlantillas();
    clear(plantillas);
    plantillas.append(
      h("tr", {}, h("th", {}, "Concepto"), h("th", {}, "Neto"), h("th", {}, "Exento"), h("th", {}, "IVA"), h("th", {}, "Otros"), h("th", {}, "Proveedores"), h("th", {}, "Tipo")),
      ...all.map((p) =>
        h(
          "tr",
          {},
          h("td", {}, p.concepto),
          h("td", {}, p.cuenta_neto),
          h("td", {}, p.cuenta_exento ?? "= neto"),
          h("td", {}, p.cuenta_iva),
          h("td", {}, p.cuenta_otros ?? "—"),
          h("td", {}, p.cuenta_proveedor),
          h("td", {}, p.tipo),
        ),
      ),
    );
    if (!all.length) plantillas.append(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "Sin plantillas: sin ellas ninguna factura tiene cuenta.")));
  };
  // centro de gestión (first 4 characters) → unidad de negocio, the predecessor's UN.xlsx
  const unidades = h("table", { id: "kame-unidades" });
  const loadUnidades = async () => {
    const all = await api.kameUnidades();
    clear(unidades);
    unidades.append(
      h("tr", {}, h("th", {}, "Centro de gestión"), h("th", {}, "Unidad de negocio")),
      ...all.map((u) => h("tr", {}, h("td", {}, u.centro), h("td", {}, u.unidad))),
    );
    if (!all.length) unidades.append(h("tr", {}, h("td", { colspan: 2, class: "muted" }, "Sin unidades: los comprobantes van sin unidad de negocio.")));
  };
  const load = () =>
    Promise.all([loadEnvios(), loadPlantillas(), loadUnidades()]).catch((e) => say(msg, errorText(e)));

  const post = async (ids: string[], filter: ListFilter) => {
    say(msg, "");
    clear(result);
    go.disabled = true;
    retry.disabled = true;
    try {
      const r = await job.run((id) => api.kamePost(id, ids, filter));
      result.append(postSummary(r));
      say(
        msg,
        r.pendientes ? "Quedaron facturas pendientes: reintente (nada se contabiliza dos veces)." : "Contabilización terminada.",
        r.pendientes || r.rechazadas ? "info" : "ok",
      );
    } catch (e) {
      say(msg, errorText(e));
    } finally {
      go.disabled = false;
      await load();
    }
  };
  const go = h(
    "button",
    {
      type: "button",
      class: "primary",
      id: "kame-post",
      onclick: async () => {
        if (!isoOf(desde) || !isoOf(hasta)) {
          say(msg, "Indique las dos fechas del período (dd-mm-aaaa).");
          return;
        }
        const f: ListFilter = {
          obra: null,
          estado: null,
          proveedor: null,
          desde: isoOf(desde),
          hasta: isoOf(hasta),
          vencidas: false,
          plazo_por_vencer: null,
          q: null,
          ids: null,
        };
        const ok = await confirmDialog(
          "Contabilizar en Kame",
          `Se enviará un comprobante por cada factura emitida del ${desde.value} al ${hasta.value} que tenga cuenta. Las ya contabilizadas no se envían otra vez.`,
          "Contabilizar",
        );
        if (ok) await post([], f);
      },
    },
    "Contabilizar período",
  );
  const retry = h(
    "button",
    {
      type: "button",
      id: "kame-retry",
      disabled: true,
      onclick: () => void post(pendientes, {
        obra: null, estado: null, proveedor: null, desde: null, hasta: null, vencidas: false, plazo_por_vencer: null, q: null, ids: null,
      }),
    },
    "Sin pendientes",
  );
  const fichas = h(
    "button",
    {
      type: "button",
      id: "kame-fichas",
      onclick: async () => {
        say(msg, "");
        fichas.disabled = true;
        try {
          const r = await api.kamePullFichas();
          say(
            msg,
            `${thousands(r.recibidas)} fichas en ${r.paginas} páginas: ${r.nuevas} nuevas, ${r.actualizadas} actualizadas, ` +
              `${r.locales_conservadas} editadas aquí conservadas${r.rechazadas.length ? `; ${r.rechazadas.length} no se pudieron leer` : ""}.`,
            "ok",
          );
        } catch (e) {
          say(msg, errorText(e));
        } finally {
          fichas.disabled = false;
        }
      },
    },
    "Traer fichas de Kame",
  );

  // a supplier's ficha: concepto and Kame's flags, read when the RUT is typed
  const conceptoRut = h("input", { id: "concepto-rut", placeholder: "RUT del proveedor", size: 14 });
  const conceptoNombre = h("input", { id: "concepto-nombre", placeholder: "concepto de compra", size: 16 });
  const proveedorFlag = h("input", { type: "checkbox", id: "ficha-proveedor", checked: true });
  const honorarioFlag = h("input", { type: "checkbox", id: "ficha-honorario" });
  const fichaInfo = h("span", { id: "ficha-info", class: "muted" });
  // what the user typed or ticked before the ficha arrived is theirs: the load fills only
  // the fields left alone, and only for the RUT still in the box
  let conceptoTouched = false;
  let flagsTouched = false;
  conceptoNombre.addEventListener("input", () => (conceptoTouched = true));
  for (const f of [proveedorFlag, honorarioFlag]) f.addEventListener("change", () => (flagsTouched = true));
  conceptoRut.addEventListener("change", async () => {
    fichaInfo.textContent = "";
    const asked = conceptoRut.value;
    if (asked.trim() === "") return;
    try {
      const f = await api.kameFicha(asked);
      if (conceptoRut.value !== asked) return;
      if (!conceptoTouched) conceptoNombre.value = f?.concepto ?? "";
      if (!flagsTouched) {
        proveedorFlag.checked = f ? f.proveedor : true;
        honorarioFlag.checked = f ? f.honorario : false;
      }
      fichaInfo.textContent = f
        ? `${f.nombre ?? "sin nombre"} · ficha ${f.origen === "local" ? "editada aquí" : "de Kame"}`
        : "sin ficha: se crea al guardar";
    } catch (err) {
      say(msg, errorText(err));
    }
  });
  const conceptoForm = h(
    "form",
    {
      class: "toolbar",
      id: "concepto-form",
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const concepto = conceptoNombre.value.trim();
        try {
          await api.kameEditFicha(conceptoRut.value, {
            concepto: concepto === "" ? null : concepto,
            // flags left alone stay as the ficha has them (a new ficha: icc-app's defaults)
            proveedor: flagsTouched ? proveedorFlag.checked : null,
            honorario: flagsTouched ? honorarioFlag.checked : null,
          });
          const flags = [proveedorFlag.checked ? "proveedor" : "", honorarioFlag.checked ? "honorario" : ""].filter(Boolean).join(", ");
          say(
            msg,
            `Concepto de ${conceptoRut.value.trim()}: ${concepto || "sin cambio"}${flags ? ` (${flags})` : ""}; se conserva al traer las fichas de Kame.`,
            "ok",
          );
          conceptoRut.value = conceptoNombre.value = "";
          fichaInfo.textContent = "";
          conceptoTouched = flagsTouched = false;
        } catch (err) {
          say(msg, errorText(err));
        }
      },
    },
    conceptoRut,
    conceptoNombre,
    h("label", {}, proveedorFlag, " proveedor"),
    h("label", {}, honorarioFlag, " honorario"),
    h("button", { type: "submit", id: "concepto-save" }, "Guardar ficha"),
    fichaInfo,
  );

  const clientId = h("input", { id: "kame-client-id", placeholder: "client_id", size: 24 });
  const usuario = h("input", { id: "kame-usuario", placeholder: "usuario de Kame", size: 24 });
  const url = h("input", { id: "kame-url", placeholder: "https://api.kameone.cl", size: 30 });
  const secreto = h("input", { id: "kame-secret", type: "password", placeholder: "client_secret (no se muestra)", size: 24, autocomplete: "off" });
  const settings = h(
    "form",
    {
      class: "toolbar",
      id: "kame-settings",
      onsubmit: async (e: Event) => {
        e.preventDefault();
        try {
          if (secreto.value.trim()) {
            await api.setCredential("kame", secreto.value);
            secreto.value = "";
          }
          // an address set by the environment (tests, demos) is not saved as the setting
          const st = await api.setKameSettings(clientId.value, usuario.value, url.disabled ? null : url.value.trim() || null);
          showSettings(st);
          say(msg, "Configuración de Kame guardada.", "ok");
        } catch (err) {
          say(msg, errorText(err));
        }
      },
    },
    clientId,
    usuario,
    url,
    secreto,
    h("button", { type: "submit", id: "kame-settings-save" }, "Guardar acceso"),
  );
  const showSettings = (st: Awaited<ReturnType<typeof api.kameSettings>>) => {
    clientId.value = st.client_id ?? "";
    usuario.value = st.usuario ?? "";
    url.value = st.url;
    url.disabled = st.url_de_entorno;
    status.textContent =
      `Kame en ${st.url}. ` +
      (st.secreto_guardado
        ? "El secreto está guardado en el llavero del sistema."
        : "Falta el secreto: escríbalo abajo (se guarda en el llavero del sistema) o use `icc credentials set kame`.");
  };
  api.kameSettings().then(showSettings).catch((e) => say(msg, errorText(e)));
  void load();

  return h(
    "section",
    { class: "screen", id: "contabilidad" },
    h("h1", {}, "Contabilidad (Kame)"),
    h(
      "p",
      { class: "muted" },
      "Cada factura se contabiliza una sola vez: se registra antes y después de enviarla, y una que quedó sin respuesta se busca en Kame antes de volver a enviarla. Las anuladas y rechazadas no se contabilizan.",
    ),
    msg,
    h("div", { class: "toolbar" }, "Emitidas desde ", desde, " hasta ", hasta, go, retry, fichas),
    job.el,
    result,
    h("h2", {}, "Envíos"),
    envios,
    h("h2", {}, "Plantillas contables"),
    plantillas,
    plantillaForm(() => void loadPlantillas()),
    h("h2", {}, "Ficha de un proveedor"),
    h(
      "p",
      { class: "muted" },
      "Las fichas de Kame dan el concepto de compra de cada proveedor; aquí se asigna o corrige uno, con sus marcas de proveedor y honorario. Para varios a la vez: seleccione sus facturas en Facturas y use «Asignar concepto…».",
    ),
    conceptoForm,
    h("h2", {}, "Unidades de negocio"),
    h("p", { class: "muted" }, "Cada comprobante lleva la unidad de negocio del centro de gestión de la factura (sus 4 primeros caracteres)."),
    unidades,
    unidadForm(msg, () => void loadUnidades()),
    h("h2", {}, "Acceso"),
    status,
    settings,
  );
}

/** The form that maps a centro de gestión to a unidad de negocio (a mapped centro is
 *  replaced). */
function unidadForm(msg: HTMLElement, saved: () => void): HTMLElement {
  const centro = h("input", { id: "unidad-centro", placeholder: "centro (4 caracteres)", size: 12, maxlength: 40 });
  const unidad = h("input", { id: "unidad-nombre", placeholder: "unidad de negocio", size: 18 });
  return h(
    "form",
    {
      class: "toolbar",
      id: "unidad-form",
      onsubmit: async (e: Event) => {
        e.preventDefault();
        try {
          const u = await api.kameSetUnidad(centro.value, unidad.value);
          say(msg, `Centro ${u.centro}: unidad de negocio ${u.unidad}.`, "ok");
          centro.value = unidad.value = "";
          saved();
        } catch (err) {
          say(msg, errorText(err));
        }
      },
    },
    centro,
    unidad,
    h("button", { type: "submit", id: "unidad-save" }, "Guardar unidad"),
  );
}
