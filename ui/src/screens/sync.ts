// Sync with the central server: the status line in the header (última sincronización,
// pendientes, conflictos, rechazados), background sync and its notices, the Sincronización
// screen (conflicts, changes the server refused, invoices removed from this computer), and
// the server box of Configuración. Rust decides everything; this only shows it.

import { api, type LocalConflict, type RefusedChange, type RemovedInvoice, type SyncReport, type SyncStatus } from "../api";
import { clear, errorText, h, say } from "../dom";
import { clp, estadoLabel, fecha, fechaHora, fechaHoraChile, thousands } from "../format";
import { confirmDialog } from "./modal";

/** Minutes between background syncs. */
export const SYNC_EVERY_MINUTES = 5;

/** Window event after anything that changes the counts of the status line. */
const SYNC_CHANGED = "icc-sync-changed";

function syncChanged(): void {
  window.dispatchEvent(new Event(SYNC_CHANGED));
}

function when(utc: string | null): string {
  if (!utc) return "nunca";
  const d = new Date(utc);
  if (Number.isNaN(d.getTime())) return utc;
  const mins = Math.round((Date.now() - d.getTime()) / 60000);
  if (mins < 1) return "recién";
  if (mins < 60) return `hace ${mins} min`;
  return `el ${fechaHoraChile(utc)}`;
}

export function statusText(st: SyncStatus): string {
  if (!st.server) return "Sin servidor";
  const parts = [`Sincronizado ${when(st.last_sync)}`];
  if (st.pending) parts.push(`${thousands(st.pending)} pendiente(s)`);
  if (st.conflicts) parts.push(`${thousands(st.conflicts)} conflicto(s)`);
  if (st.refused) parts.push(`${thousands(st.refused)} rechazado(s)`);
  return parts.join(" · ");
}

/** What a sync left for the user to see, in a sentence or two; "" when nothing. `here`
 *  when the user is already on the Sincronización screen. */
export function syncNotice(refused: number, removed: number, here = false): string {
  const where = here ? "más abajo" : "en Sincronización";
  const parts: string[] = [];
  if (refused === 1) parts.push(`El servidor rechazó 1 cambio: revíselo ${where}.`);
  else if (refused > 1) parts.push(`El servidor rechazó ${thousands(refused)} cambios: revíselos ${where}.`);
  if (removed === 1) parts.push("1 factura dejó de pertenecer a sus obras y se retiró de este equipo.");
  else if (removed > 1) parts.push(`${thousands(removed)} facturas dejaron de pertenecer a sus obras y se retiraron de este equipo.`);
  return parts.join(" ");
}

/** Refused changes this window already told about: a sync reports every change still set
 *  aside, and the background sync should announce each one once, not every few minutes. */
const announced = new Set<string>();

/** The notice after a background sync: refused changes not announced yet, and the invoices
 *  this sync removed (each sync reports only its own). */
export function backgroundNotice(r: Pick<SyncReport, "refused" | "removed">): string {
  const fresh = r.refused.filter((c) => !announced.has(c.op_id)).length;
  for (const c of r.refused) announced.add(c.op_id);
  return syncNotice(fresh, r.removed.length);
}

/** The header's status line; clicking it opens the Sincronización screen. Syncs in the
 *  background every few minutes while the window is open and hands `notify` what the
 *  user should know about the result (refused changes, removed invoices). */
export function syncStatusLine(openSync: () => void, notify: (text: string) => void = () => {}): HTMLElement {
  const el = h("button", { type: "button", id: "sync-status", class: "sync-status", title: "Sincronización (clic: ver detalle)" }, "…");
  el.addEventListener("click", openSync);
  let busy = false;
  const refresh = async () => {
    try {
      const st = await api.syncStatus();
      el.textContent = statusText(st);
      el.classList.toggle("warn", st.conflicts > 0 || st.refused > 0);
      return st;
    } catch {
      el.textContent = "Sincronización: sin datos";
      return null;
    }
  };
  const tick = async () => {
    if (busy || !el.isConnected) return;
    const st = await refresh();
    if (!st?.server) return;
    busy = true;
    el.textContent = "Sincronizando…";
    try {
      const text = backgroundNotice(await api.syncNow());
      if (text) notify(text);
    } catch (e) {
      el.title = errorText(e);
    } finally {
      busy = false;
      await refresh();
    }
  };
  const changed = () => {
    if (!el.isConnected) return window.removeEventListener(SYNC_CHANGED, changed);
    if (!busy) void refresh();
  };
  window.addEventListener(SYNC_CHANGED, changed);
  void refresh();
  const timer = window.setInterval(() => {
    if (!el.isConnected) return window.clearInterval(timer);
    void tick();
  }, SYNC_EVERY_MINUTES * 60_000);
  return el;
}

/** Synced fields as the user calls them. */
const FIELD_LABELS: Record<string, string> = {
  _doc: "factura completa",
  razon_social: "razón social",
  fecha_emision: "fecha de emisión",
  fecha_recepcion_sii: "fecha de recepción en el SII",
  fecha_vencimiento: "fecha de vencimiento",
  monto_neto: "monto neto",
  monto_exento: "monto exento",
  monto_iva: "IVA",
  monto_otros: "otros impuestos",
  monto_total: "monto total",
  obra: "obra",
  centro_costo: "centro de costo",
  cuenta: "cuenta",
  glosa: "glosa",
  estado: "estado",
  motivo_rechazo: "motivo de rechazo",
  resuelto: "resolución del conflicto",
};

/** `monto_total` → «monto total»; a field this version does not know, in plain words. */
export function fieldLabel(field: string): string {
  return FIELD_LABELS[field] ?? field.replace(/^_+/, "").replace(/_/g, " ");
}

/** `RUT:TIPO:FOLIO razón social` of a whole invoice sent as one value, or null. */
function docKey(doc: unknown): string | null {
  if (!doc || typeof doc !== "object") return null;
  const o = doc as Record<string, unknown>;
  const k = (o.key && typeof o.key === "object" ? o.key : o) as Record<string, unknown>;
  if (k.rut_emisor == null || k.tipo_dte == null || k.folio == null) return null;
  const name = typeof o.razon_social === "string" ? ` ${o.razon_social}` : "";
  return `${String(k.rut_emisor)}:${String(k.tipo_dte)}:${String(k.folio)}${name}`;
}

/** A synced value (JSON text) as the user reads it: pesos, states and dates in es-CL. */
export function valueText(field: string, json: string): string {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return json;
  }
  if (v === null || v === "") return "(vacío)";
  if (field === "_doc") return docKey(v) ?? "(factura completa)";
  if (field.startsWith("monto_") && typeof v === "number") return clp(v);
  if (field === "estado" && typeof v === "string") return estadoLabel(v);
  if (field === "fecha_recepcion_sii" && typeof v === "string") return fechaHora(v);
  if (field.startsWith("fecha_") && typeof v === "string") return fecha(v);
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** Which record a refused change was about: the invoice's key when known (`keys`, by id),
 *  else its id. */
export function refusedSubject(c: RefusedChange, keys: ReadonlyMap<string, string>): string {
  if (c.entity === "conflict") return `conflicto N° ${c.entity_id}`;
  if (c.field === "_doc") {
    try {
      const k = docKey(JSON.parse(c.value));
      if (k) return k;
    } catch {
      /* fall back to the id */
    }
  }
  return keys.get(c.entity_id) ?? `factura ${c.entity_id}`;
}

/** A row of the refused changes table. */
export type RefusedRow = { opId: string; subject: string; field: string; value: string; reason: string; when: string };

/** The refused changes table: its rows, or the sentence shown when there are none. */
export function refusedTable(list: RefusedChange[], keys: ReadonlyMap<string, string>): { rows: RefusedRow[]; empty: string | null } {
  return {
    rows: list.map((c) => ({
      opId: c.op_id,
      subject: refusedSubject(c, keys),
      field: fieldLabel(c.field),
      value: valueText(c.field, c.value),
      reason: c.reason,
      when: fechaHoraChile(c.refused_at),
    })),
    empty: list.length ? null : "No hay cambios rechazados por el servidor.",
  };
}

/** The removed invoices table: its rows, or the sentence shown when there are none. */
export function removedTable(list: RemovedInvoice[]): { rows: Array<{ invoice: string; reason: string; when: string }>; empty: string | null } {
  return {
    rows: list.map((r) => ({ invoice: r.invoice, reason: r.reason, when: fechaHoraChile(r.removed_at) })),
    empty: list.length ? null : "No se ha retirado ninguna factura de este equipo.",
  };
}

/** The question before discarding: what is dropped and what comes back. */
export function discardQuestion(c: RefusedChange, subject: string): string {
  const what = c.field === "_doc" ? `la factura ${subject}` : `«${fieldLabel(c.field)}» = ${valueText(c.field, c.value)} en ${subject}`;
  return (
    `¿Descartar el cambio rechazado (${what})? ` +
    "En este equipo se restaurará el valor que tiene el servidor y este cambio no se volverá a enviar. No se puede deshacer."
  );
}

/** Asks, and only on «Descartar cambio» discards the change here. Returns the discarded
 *  change, or null when the user said no; a failure is thrown for the caller to show. */
export async function discardWithConfirmation(
  c: RefusedChange,
  subject: string,
  ask: (title: string, text: string, accept: string) => Promise<boolean> = confirmDialog,
): Promise<RefusedChange | null> {
  if (!(await ask("Descartar cambio rechazado", discardQuestion(c, subject), "Descartar cambio"))) return null;
  return api.discardRefused(c.op_id);
}

/** `RUT:TIPO:FOLIO razón social` of the invoices the refused changes name, for the ones
 *  this user can still open; the others show by id. */
async function invoiceKeys(list: RefusedChange[]): Promise<Map<string, string>> {
  const ids = [...new Set(list.filter((c) => c.entity === "invoice" && c.field !== "_doc").map((c) => c.entity_id))];
  const keys = new Map<string, string>();
  await Promise.all(
    ids.map(async (id) => {
      try {
        const v = await api.showInvoice(id);
        keys.set(id, `${v.rut_emisor}:${v.tipo_dte}:${v.folio} ${v.razon_social}`);
      } catch {
        /* gone or out of reach: shown by id */
      }
    }),
  );
  return keys;
}

/** The changes the server refused, each with «Descartar». */
function refusedSection(msg: HTMLElement): { el: HTMLElement; load: () => Promise<void> } {
  const body = h("tbody", {});
  const load = async () => {
    let list: RefusedChange[];
    try {
      list = await api.refusedChanges();
    } catch (e) {
      return say(msg, errorText(e));
    }
    for (const c of list) announced.add(c.op_id);
    const keys = await invoiceKeys(list);
    const table = refusedTable(list, keys);
    clear(body);
    if (table.empty) body.append(h("tr", {}, h("td", { colspan: 6 }, table.empty)));
    table.rows.forEach((row, i) => {
      const discard = async () => {
        try {
          const done = await discardWithConfirmation(list[i], row.subject);
          if (!done) return;
          say(msg, `Cambio descartado: ${row.field} de ${row.subject} vuelve al valor del servidor.`, "ok");
          syncChanged();
          await load();
        } catch (e) {
          say(msg, errorText(e));
        }
      };
      body.append(
        h(
          "tr",
          {},
          h("td", {}, row.subject),
          h("td", {}, row.field),
          h("td", {}, row.value),
          h("td", {}, row.reason),
          h("td", {}, row.when),
          h("td", {}, h("button", { type: "button", class: "discard-refused", "data-op": row.opId, onclick: discard }, "Descartar")),
        ),
      );
    });
  };
  const el = h(
    "section",
    { id: "refused-section" },
    h("h2", {}, "Cambios rechazados por el servidor"),
    h(
      "p",
      { class: "muted" },
      "El servidor no aceptó estos cambios hechos en este equipo (por ejemplo, una factura de una obra que no es suya o un dato no válido). Quedan apartados y no frenan los demás. Al descartar uno, este equipo vuelve al valor que tiene el servidor.",
    ),
    h(
      "table",
      { id: "refused-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "Factura"), h("th", {}, "Campo"), h("th", {}, "Valor rechazado"), h("th", {}, "Motivo"), h("th", {}, "Fecha"), h("th", {}, ""))),
      body,
    ),
  );
  return { el, load };
}

/** The invoices removed from this computer because they left the account's obras. */
function removedSection(msg: HTMLElement): { el: HTMLElement; load: () => Promise<void> } {
  const body = h("tbody", {});
  const load = async () => {
    let table: ReturnType<typeof removedTable>;
    try {
      table = removedTable(await api.removedInvoices());
    } catch (e) {
      return say(msg, errorText(e));
    }
    clear(body);
    if (table.empty) body.append(h("tr", {}, h("td", { colspan: 3 }, table.empty)));
    for (const r of table.rows) body.append(h("tr", {}, h("td", {}, r.invoice), h("td", {}, r.reason), h("td", {}, r.when)));
  };
  const el = h(
    "section",
    { id: "removed-section" },
    h("h2", {}, "Facturas retiradas de este equipo"),
    h("p", { class: "muted" }, "Facturas que dejaron de pertenecer a sus obras: se quitaron de este equipo y siguen en el servidor para quienes tienen esas obras."),
    h("table", { id: "removed-table" }, h("thead", {}, h("tr", {}, h("th", {}, "Factura"), h("th", {}, "Motivo"), h("th", {}, "Fecha"))), body),
  );
  return { el, load };
}

/** Sincronización: sync now, the conflicts (what won, what lost and who wrote it; keep one
 *  or the other), the changes the server refused and the invoices removed from here. */
export function syncScreen(): HTMLElement {
  const msg = h("p", { class: "msg", hidden: true, role: "alert", id: "conflicts-msg" });
  const notice = h("p", { class: "msg", hidden: true, role: "status", id: "sync-notice-here" });
  const body = h("tbody", {});
  const syncBtn = h("button", { type: "button", id: "sync-now" }, "Sincronizar ahora");
  const refused = refusedSection(msg);
  const removed = removedSection(msg);
  const loadConflicts = async () => {
    clear(body);
    let list: LocalConflict[];
    try {
      list = await api.conflicts();
    } catch (e) {
      return say(msg, errorText(e));
    }
    if (!list.length) body.append(h("tr", {}, h("td", { colspan: 6 }, "No hay conflictos.")));
    for (const c of list) {
      const keep = (which: "mine" | "theirs") => async () => {
        try {
          const unsent = await api.resolveConflict(c.id, which);
          if (unsent === null) say(msg, `Conflicto ${c.id} resuelto.`, "ok");
          else
            say(
              msg,
              `Conflicto ${c.id} resuelto en este equipo; se enviará en la próxima sincronización (ahora no se pudo: ${unsent}).`,
              "info",
            );
          syncChanged();
          await loadConflicts();
        } catch (e) {
          say(msg, errorText(e));
        }
      };
      body.append(
        h(
          "tr",
          { class: c.resolved_by ? "muted" : "" },
          h("td", {}, String(c.id)),
          h("td", {}, c.entity_id),
          h("td", {}, fieldLabel(c.field)),
          h("td", {}, valueText(c.field, c.winner_value)),
          h("td", {}, `${valueText(c.field, c.loser_value)} (${c.loser_user})`),
          h(
            "td",
            {},
            c.resolved_by
              ? `resuelto por ${c.resolved_by}`
              : h(
                  "span",
                  {},
                  h("button", { type: "button", id: `keep-theirs-${c.id}`, onclick: keep("theirs") }, "Dejar el ganador"),
                  " ",
                  h("button", { type: "button", id: `keep-mine-${c.id}`, onclick: keep("mine") }, "Usar el otro valor"),
                ),
          ),
        ),
      );
    }
  };
  const load = () => Promise.all([loadConflicts(), refused.load(), removed.load()]);
  syncBtn.addEventListener("click", async () => {
    syncBtn.disabled = true;
    say(notice, "");
    try {
      const r = await api.syncNow();
      say(msg, `Sincronizado: ${thousands(r.pushed)} enviados, ${thousands(r.pulled)} recibidos, ${thousands(r.conflicts)} conflicto(s) abiertos.`, "ok");
      say(notice, syncNotice(r.refused.length, r.removed.length, true), "info");
      await load();
    } catch (e) {
      say(msg, errorText(e));
    } finally {
      syncBtn.disabled = false;
      syncChanged();
    }
  });
  void load();
  return h(
    "section",
    { class: "screen" },
    h("h1", {}, "Sincronización"),
    h("div", { class: "toolbar" }, syncBtn),
    msg,
    notice,
    h("h2", {}, "Conflictos"),
    h("p", { class: "muted" }, "Cuando dos equipos cambian el mismo dato sin conexión, gana el cambio más reciente en todos los equipos y el otro valor queda aquí hasta que alguien decida."),
    h(
      "table",
      { id: "conflicts-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "N°"), h("th", {}, "Factura"), h("th", {}, "Campo"), h("th", {}, "Ganó"), h("th", {}, "Perdió (autor)"), h("th", {}, ""))),
      body,
    ),
    refused.el,
    removed.el,
  );
}

/** The server box of Configuración: link (password entered once, never stored here), or
 *  unlink. */
export function serverBox(): HTMLElement {
  const msg = h("p", { class: "msg", hidden: true, role: "alert", id: "server-msg" });
  const url = h("input", { id: "server-url", size: 36, placeholder: "https://servidor" });
  const user = h("input", { id: "server-user", size: 16, autocomplete: "off" });
  const pw = h("input", { id: "server-password", type: "password", size: 20, autocomplete: "off" });
  const state = h("p", { id: "server-state" }, "…");
  const logout = h("button", { type: "button", id: "server-logout", hidden: true }, "Cerrar sesión con el servidor");
  const refresh = async () => {
    try {
      const st = await api.syncStatus();
      state.textContent = st.server ? `Vinculado a ${st.server} como «${st.server_user ?? ""}». ${statusText(st)}.` : "Este equipo trabaja solo (sin servidor).";
      logout.hidden = !st.server;
      if (st.server) url.value = st.server;
    } catch (e) {
      state.textContent = errorText(e);
    }
  };
  logout.addEventListener("click", async () => {
    if (!window.confirm("¿Cerrar la sesión con el servidor? Los cambios se siguen guardando y se enviarán al volver a vincular.")) return;
    try {
      await api.logoutServer();
      say(msg, "Sesión con el servidor cerrada.", "ok");
    } catch (e) {
      say(msg, errorText(e));
    }
    await refresh();
  });
  void refresh();
  return h(
    "section",
    { class: "card", id: "server-box" },
    h("h2", {}, "Servidor de sincronización"),
    state,
    h(
      "form",
      {
        class: "toolbar",
        onsubmit: async (e: Event) => {
          e.preventDefault();
          const password = pw.value;
          pw.value = "";
          try {
            const r = await api.loginServer(url.value, user.value, password);
            say(msg, `Vinculado como «${r.server_user}»; ${thousands(r.queued)} factura(s) por enviar en la próxima sincronización.`, "ok");
          } catch (err) {
            say(msg, errorText(err));
          }
          await refresh();
        },
      },
      h("label", { class: "field" }, h("span", {}, "Dirección"), url),
      h("label", { class: "field" }, h("span", {}, "Usuario del servidor"), user),
      h("label", { class: "field" }, h("span", {}, "Contraseña"), pw),
      h("button", { type: "submit", id: "server-login" }, "Vincular"),
    ),
    logout,
    msg,
  );
}
