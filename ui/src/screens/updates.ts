// Signed updates: the offer banner (checked once after sign-in) and the box in Configuración.
// Rust finds the update, verifies the signature against the key built into the app and
// installs; this only shows what happens. Every failure is shown, never swallowed.

import { api, onUpdateProgress } from "../api";
import { h, errorText, say } from "../dom";
import { thousands } from "../format";
import type { UpdateOffer } from "../bindings/UpdateOffer";

/** The sentence offering an update. */
export function offerText(o: UpdateOffer): string {
  return `Hay una versión nueva de ICC Facturas: ${o.version} (usted tiene ${o.current_version}).`;
}

/** "3,2 de 12,5 MB": progress in megabytes with a decimal comma (es-CL). */
export function progressText(downloaded: number, total: number | null): string {
  const mb = (n: number) => {
    const tenths = Math.round(n / 100_000);
    return `${thousands(Math.trunc(tenths / 10))},${tenths % 10}`;
  };
  return total ? `${mb(downloaded)} de ${mb(total)} MB` : `${mb(downloaded)} MB`;
}

function installFlow(box: HTMLElement, offer: UpdateOffer): void {
  const msg = h("p", { class: "msg", hidden: true, role: "alert" });
  const bar = h("progress", { id: "update-progress", max: 100, value: 0, hidden: true });
  const amount = h("span", { id: "update-amount" });
  const install = h(
    "button",
    {
      type: "button",
      id: "update-install",
      onclick: async () => {
        install.setAttribute("disabled", "");
        bar.hidden = false;
        say(msg, "Descargando y verificando la firma…", "info");
        const stop = await onUpdateProgress((p) => {
          if (p.total) bar.value = Math.min(100, (p.downloaded / p.total) * 100);
          amount.textContent = progressText(p.downloaded, p.total);
        });
        try {
          await api.updateInstall(); // restarts the app when it succeeds
          say(msg, "Instalada; la aplicación se reinicia.", "ok");
        } catch (e) {
          say(msg, `No se instaló: ${errorText(e)}`);
          install.removeAttribute("disabled");
        } finally {
          stop();
        }
      },
    },
    `Actualizar a ${offer.version}`,
  );
  box.replaceChildren(
    h("p", { id: "update-offer" }, offerText(offer)),
    offer.notes ? h("pre", { class: "notes", id: "update-notes" }, offer.notes) : "",
    h("p", {}, install, " ", bar, " ", amount),
    msg,
  );
}

let startCheck: Promise<UpdateOffer | null> | null = null;

/** The check made when the app starts (once per run; the banner shows its answer). */
export function checkAtStart(): Promise<UpdateOffer | null> {
  startCheck ??= api.updateCheck();
  return startCheck;
}

/** The banner under the header: empty until the start check finds something to say. */
export function updateBanner(): HTMLElement {
  const box = h("section", { class: "update-banner", id: "update-banner", hidden: true, "aria-live": "polite" });
  checkAtStart()
    .then((offer) => {
      if (!offer) return;
      installFlow(box, offer);
      box.append(h("button", { type: "button", id: "update-later", onclick: () => (box.hidden = true) }, "Más tarde"));
      box.hidden = false;
    })
    .catch((e) => {
      box.replaceChildren(
        h("p", { class: "msg msg-error" }, `No se pudo buscar actualizaciones: ${errorText(e)}`),
        h("button", { type: "button", onclick: () => (box.hidden = true) }, "Cerrar"),
      );
      box.hidden = false;
    });
  return box;
}

/** Configuración: where updates come from and a button to look now. */
export function updatesBox(): HTMLElement {
  const where = h("p", { id: "update-source" });
  const result = h("div", { id: "update-result" });
  api
    .updateSource()
    .then((s) => {
      if (s.endpoints.length === 0) {
        where.textContent =
          "Sin servidor de actualizaciones: esta versión no lo trae. TI lo define al publicar (scripts/release --base-url) o en este equipo con ICC_UPDATE_URL.";
        check.setAttribute("disabled", "");
        return;
      }
      where.textContent = `Canal «${s.channel}»${s.set_by_it ? " (definido por TI en este equipo)" : ""}: ${s.endpoints.join(", ")}`;
    })
    .catch((e) => (where.textContent = errorText(e)));
  const check = h(
    "button",
    {
      type: "button",
      id: "update-check",
      onclick: async () => {
        check.setAttribute("disabled", "");
        result.replaceChildren(h("p", {}, "Buscando…"));
        try {
          const offer = await api.updateCheck();
          if (offer) installFlow(result, offer);
          else result.replaceChildren(h("p", { class: "msg msg-ok" }, "Esta es la versión más reciente."));
        } catch (e) {
          result.replaceChildren(h("p", { class: "msg msg-error" }, errorText(e)));
        } finally {
          check.removeAttribute("disabled");
        }
      },
    },
    "Buscar actualizaciones",
  );
  return h("section", { class: "box" }, h("h2", {}, "Actualizaciones"), where, check, result);
}
