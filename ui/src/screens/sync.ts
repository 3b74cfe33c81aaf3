// Sync with the central server: the status line in the header (última sincronización,
// pendientes, conflictos), background sync, the conflicts screen, and the server box of
// Configuración. Rust decides everything; this only shows it.

import { api, type LocalConflict, type SyncStatus } from "../api";
import { clear, errorText, h, say } from "../dom";
import { thousands } from "../format";

/** Minutes between background syncs. */
export const SYNC_EVERY_MINUTES = 5;

function when(utc: string | null): string {
  if (!utc) return "nunca";
  const d = new Date(utc);
  if (Number.isNaN(d.getTime())) return utc;
  const mins = Math.round((Date.now() - d.getTime()) / 60000);
  if (mins < 1) return "recién";
  if (mins < 60) return `hace ${mins} min`;
  return d.toLocaleString("es-CL", { dateStyle: "short", timeStyle: "short" });
}

export function statusText(st: SyncStatus): string {
  if (!st.server) return "Sin servidor";
  const parts = [`Sincronizado ${when(st.last_sync)}`];
  if (st.pending) parts.push(`${thousands(st.pending)} pendiente(s)`);
  if (st.conflicts) parts.push(`${thousands(st.conflicts)} conflicto(s)`);
  return parts.join(" · ");
}

/** The header's status line; clicking it opens the conflicts screen. Syncs in the
 *  background every few minutes while the window is open. */
export function syncStatusLine(openConflicts: () => void): HTMLElement {
  const el = h("button", { type: "button", id: "sync-status", class: "sync-status", title: "Sincronización (clic: conflictos)" }, "…");
  el.addEventListener("click", openConflicts);
  let busy = false;
  const refresh = async () => {
    try {
      const st = await api.syncStatus();
      el.textContent = statusText(st);
      el.classList.toggle("warn", st.conflicts > 0);
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
      await api.syncNow();
    } catch (e) {
      el.title = errorText(e);
    } finally {
      busy = false;
      await refresh();
    }
  };
  void refresh();
  const timer = window.setInterval(() => {
    if (!el.isConnected) return window.clearInterval(timer);
    void tick();
  }, SYNC_EVERY_MINUTES * 60_000);
  return el;
}

function show(v: string): string {
  try {
    const parsed: unknown = JSON.parse(v);
    return parsed === null ? "(vacío)" : String(parsed);
  } catch {
    return v;
  }
}

/** Conflicts: what won, what lost and who wrote it; keep one or the other. */
export function conflictsScreen(): HTMLElement {
  const msg = h("p", { class: "msg", hidden: true, role: "alert", id: "conflicts-msg" });
  const body = h("tbody", {});
  const syncBtn = h("button", { type: "button", id: "sync-now" }, "Sincronizar ahora");
  const load = async () => {
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
          await api.resolveConflict(c.id, which);
          say(msg, `Conflicto ${c.id} resuelto.`, "ok");
          await load();
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
          h("td", {}, c.field),
          h("td", {}, show(c.winner_value)),
          h("td", {}, `${show(c.loser_value)} (${c.loser_user})`),
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
  syncBtn.addEventListener("click", async () => {
    syncBtn.disabled = true;
    try {
      const r = await api.syncNow();
      say(msg, `Sincronizado: ${thousands(r.pushed)} enviados, ${thousands(r.pulled)} recibidos, ${thousands(r.conflicts)} conflicto(s) abiertos.`, "ok");
      await load();
    } catch (e) {
      say(msg, errorText(e));
    } finally {
      syncBtn.disabled = false;
    }
  });
  void load();
  return h(
    "section",
    { class: "screen" },
    h("h1", {}, "Sincronización y conflictos"),
    h("p", { class: "muted" }, "Cuando dos equipos cambian el mismo dato sin conexión, gana el cambio más reciente en todos los equipos y el otro valor queda aquí hasta que alguien decida."),
    h("div", { class: "toolbar" }, syncBtn),
    msg,
    h(
      "table",
      { id: "conflicts-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "N°"), h("th", {}, "Factura"), h("th", {}, "Campo"), h("th", {}, "Ganó"), h("th", {}, "Perdió (autor)"), h("th", {}, ""))),
      body,
    ),
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
