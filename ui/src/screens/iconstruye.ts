// iConstruye: the pull (dates, progress with cancel, summary with every refused row) and its
// settings (address; subscription keys entered once, stored in the OS keyring by Rust and
// never shown again).

import { api, type PullReport } from "../api";
import { clear, errorText, h, say } from "../dom";
import { fecha, isoFromChilean, thousands } from "../format";
import { jobView } from "./jobs";

function isoDaysAgo(days: number): string {
  const d = new Date();
  d.setDate(d.getDate() - days);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

function summary(r: PullReport): HTMLElement {
  const head = h(
    "p",
    { id: "pull-summary" },
    `iConstruye ${fecha(r.desde)} a ${fecha(r.hasta)}: ${thousands(r.fetched)} documentos recibidos, ` +
      `${thousands(r.inserted)} nuevos, ${thousands(r.updated)} actualizados, ${thousands(r.unchanged)} sin cambios, ` +
      `${thousands(r.rejected)} rechazados${r.cancelled ? ` (cancelada: se guardaron ${r.windows} ventana(s) completas)` : ""}.`,
  );
  const out = h("div", { class: "pull-result" }, head);
  if (r.errors.length) {
    out.append(
      h(
        "table",
        { class: "errors", id: "pull-errors" },
        h("thead", {}, h("tr", {}, h("th", {}, "Origen"), h("th", {}, "idDocumento"), h("th", {}, "Folio"), h("th", {}, "Problema"))),
        h(
          "tbody",
          {},
          ...r.errors.map((e) =>
            h("tr", {}, h("td", {}, e.origen), h("td", {}, e.id_documento ?? "—"), h("td", {}, e.folio ?? "—"), h("td", {}, e.message)),
          ),
        ),
      ),
    );
  }
  if (r.estados_no_aplicados.length) {
    out.append(
      h("p", { class: "muted" }, "Estados de iConstruye que no se aplicaron (se mantiene la decisión local):"),
      h("ul", {}, ...r.estados_no_aplicados.map((e) => h("li", {}, e))),
    );
  }
  return out;
}

/** The pull, for the Importar screen. */
export function iconstruyePullBox(): HTMLElement {
  // dd-mm-aaaa text, as everywhere in the app: a date input shows the operating system's
  // order (mm/dd/yyyy on an English system), which a Chilean reader takes the other way
  const dateBox = (id: string, iso: string) =>
    h("input", { id, size: 12, placeholder: "dd-mm-aaaa", value: fecha(iso) });
  const desde = dateBox("pull-desde", isoDaysAgo(29));
  const hasta = dateBox("pull-hasta", isoDaysAgo(0));
  const isoOf = (el: HTMLInputElement) => (el.value.trim() ? isoFromChilean(el.value) : null);
  const msg = h("p", { class: "msg", hidden: true, role: "alert", id: "pull-msg" });
  const result = h("div", { id: "pull-result" });
  const last = h("p", { class: "muted", id: "pull-last" });
  const job = jobView();
  const go = h("button", { type: "button", class: "primary", id: "pull-go" }, "Descargar");
  const refresh = () =>
    api
      .iconstruyeSettings()
      .then((st) => {
        last.textContent = st.completado_hasta
          ? `Última descarga completa hasta el ${fecha(st.completado_hasta)} (${st.url}).`
          : `Aún no se ha descargado nada de ${st.url}.`;
      })
      .catch((e) => (last.textContent = errorText(e)));
  go.addEventListener("click", async () => {
    say(msg, "");
    clear(result);
    go.disabled = true;
    try {
      const r = await job.run((id) => api.iconstruyePull(id, isoOf(desde), isoOf(hasta)));
      result.append(summary(r));
      say(msg, r.rejected ? "Descarga terminada con documentos rechazados (vea el detalle)." : "Descarga terminada.", r.rejected ? "info" : "ok");
    } catch (e) {
      say(msg, errorText(e));
    } finally {
      go.disabled = false;
      void refresh();
    }
  });
  void refresh();
  return h(
    "section",
    { class: "card", id: "iconstruye-pull" },
    h("h2", {}, "Descargar desde iConstruye"),
    h("p", { class: "muted" }, "Se consulta en ventanas de hasta 30 días; cada ventana se guarda completa. Cancelar conserva las ventanas ya guardadas."),
    h(
      "div",
      { class: "toolbar" },
      h("label", { class: "field" }, h("span", {}, "Recibidas desde"), desde),
      h("label", { class: "field" }, h("span", {}, "hasta"), hasta),
      go,
    ),
    last,
    job.el,
    msg,
    result,
  );
}

/** Address and keys, for Configuración. */
export function iconstruyeSettingsBox(): HTMLElement {
  const msg = h("p", { class: "msg", hidden: true, role: "alert", id: "iconstruye-msg" });
  const url = h("input", { id: "iconstruye-url", size: 40 });
  const keys = h("ul", { class: "checks", id: "iconstruye-keys" });
  const load = async () => {
    try {
      const [st, creds] = await Promise.all([api.iconstruyeSettings(), api.credentials()]);
      url.value = st.url;
      url.disabled = st.url_from_env;
      clear(keys);
      for (const c of creds) {
        const input = h("input", {
          type: "password",
          id: `cred-${c.name}`,
          autocomplete: "off",
          placeholder: c.configured ? "Guardada (escriba para reemplazarla)" : "Pegue la clave aquí",
          size: 34,
        });
        const save = h(
          "button",
          {
            type: "button",
            id: `cred-save-${c.name}`,
            onclick: async () => {
              const v = input.value;
              input.value = "";
              if (!v.trim()) return say(msg, "Escriba o pegue la clave antes de guardar.");
              try {
                await api.setCredential(c.name, v);
                say(msg, `Clave guardada en el llavero del sistema: ${c.label}.`, "ok");
                await load();
              } catch (e) {
                say(msg, errorText(e));
              }
            },
          },
          "Guardar",
        );
        const del = h(
          "button",
          {
            type: "button",
            id: `cred-del-${c.name}`,
            hidden: !c.configured,
            onclick: async () => {
              if (!window.confirm(`¿Eliminar del llavero la ${c.label.toLowerCase()}?`)) return;
              try {
                await api.deleteCredential(c.name);
                say(msg, "Clave eliminada.", "ok");
                await load();
              } catch (e) {
                say(msg, errorText(e));
              }
            },
          },
          "Eliminar",
        );
        keys.append(
          h(
            "li",
            { class: c.configured ? "ok" : "" },
            h("strong", { id: `cred-state-${c.name}` }, `${c.configured ? "✔ guardada" : "— sin guardar"}`),
            ` ${c.label} `,
            input,
            save,
            del,
          ),
        );
      }
    } catch (e) {
      say(msg, errorText(e));
    }
  };
  void load();
  return h(
    "section",
    { class: "card", id: "iconstruye-settings" },
    h("h2", {}, "iConstruye"),
    h(
      "form",
      {
        class: "toolbar",
        onsubmit: async (e: Event) => {
          e.preventDefault();
          try {
            await api.setIconstruyeUrl(url.value);
            say(msg, "Dirección de iConstruye guardada.", "ok");
          } catch (err) {
            say(msg, errorText(err));
          }
        },
      },
      h("label", { class: "field" }, h("span", {}, "Dirección"), url),
      h("button", { type: "submit", id: "iconstruye-url-save" }, "Guardar"),
    ),
    h("p", { class: "muted" }, "Las claves se guardan en el llavero del sistema operativo y no se vuelven a mostrar."),
    keys,
    msg,
  );
}
