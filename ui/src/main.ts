// The shell of the interface: first run / login / lock, the navigation and the screens.
// Every decision (permissions, amounts, deadlines, the inactivity lock) is Rust's; this
// only shows what Rust says and asks again when Rust says the session is locked.

import { api, onLocked, type ListFilter, type SessionInfo, type Status } from "./api";
import { clear, h } from "./dom";
import { diagnosticsScreen, obrasScreen, suppliersScreen, usersScreen } from "./screens/admin";
import { cesionesScreen, cuentasScreen, pagosScreen } from "./screens/pagos";
import { kameScreen } from "./screens/kame";
import { presupuestoScreen, tesoreriaScreen } from "./screens/presupuesto";
import { firstRun, login, lockScreen } from "./screens/auth";
import { detailScreen } from "./screens/detail";
import { exportScreen } from "./screens/export";
import { importScreen } from "./screens/import";
import { invoicesScreen, type InvoicesScreen } from "./screens/invoices";
import { panelScreen } from "./screens/panel";
import { syncScreen, syncStatusLine } from "./screens/sync";
import { checkAtStart, updateBanner } from "./screens/updates";

const app = document.getElementById("app") as HTMLElement;

const EMPTY_FILTER: ListFilter = {
  obra: null,
  estado: null,
  proveedor: null,
  desde: null,
  hasta: null,
  vencidas: false,
  plazo_por_vencer: null,
  q: null,
  ids: null,
};

type Route =
  | "panel"
  | "facturas"
  | "importar"
  | "exportar"
  | "pagos"
  | "cuentas"
  | "cesiones"
  | "contabilidad"
  | "presupuesto"
  | "tesoreria"
  | "obras"
  | "proveedores"
  | "usuarios"
  | "diagnostico"
  | "sincronizacion";

let status: Status | null = null;
let session: SessionInfo | null = null;
/** The update offer, checked once per run after the first sign-in. */
let banner: HTMLElement | null = null;
/** What the last background sync left for the user to see; kept across screens until
 *  closed or seen. */
let syncBanner: HTMLElement | null = null;
let filter: ListFilter = { ...EMPTY_FILTER };
let route: Route = "facturas";
/** The list on screen, whose filters the other sections (export) start from. */
let currentList: InvoicesScreen | null = null;

async function boot(): Promise<void> {
  // look for updates as the app starts; the banner shows the offer, or the error, once
  // someone is signed in
  checkAtStart().catch(() => {});
  try {
    status = await api.status();
  } catch (e) {
    app.replaceChildren(h("p", { class: "msg msg-error" }, `No se pudo abrir la base de datos: ${String((e as { message?: string }).message ?? e)}`));
    return;
  }
  if (!status.initialized) return show(firstRun(signedIn));
  if (!status.session) return show(login(signedIn));
  session = status.session;
  if (status.locked) return showLock();
  main();
}

function show(el: HTMLElement): void {
  app.replaceChildren(h("div", { class: "center" }, el));
}

function signedIn(s: SessionInfo): void {
  session = s;
  api.status().then((st) => (status = st));
  main();
}

function showLock(): void {
  if (!session) return void boot();
  show(
    lockScreen(session.username, signedIn, async () => {
      await api.logout();
      session = null;
      boot();
    }),
  );
}
onLocked(showLock);

function navItems(s: SessionInfo): Array<[Route, string, boolean]> {
  const may = (p: string) => s.permissions.includes(p);
  return [
    ["panel", "Panel", true],
    ["facturas", "Facturas", true],
    ["importar", "Importar", may("import")],
    ["exportar", "Exportar", may("export")],
    ["pagos", "Pagos", may("prepare_runs") || may("approve_runs") || may("pay")],
    ["cuentas", "Cuentas", may("enter_bank_accounts") || may("approve_bank_accounts") || may("pay")],
    ["cesiones", "Cesiones", may("prepare_runs") || may("approve_runs") || may("pay")],
    ["contabilidad", "Contabilidad", may("accounting")],
    ["presupuesto", "Presupuesto", true],
    ["tesoreria", "Tesorería", may("treasury")],
    ["obras", "Obras", true],
    ["proveedores", "Proveedores", true],
    ["usuarios", "Usuarios", may("manage_users")],
    ["diagnostico", "Diagnóstico", true],
  ];
}

function main(): void {
  if (!session) return void boot();
  const content = h("main", { id: "content" });
  banner ??= updateBanner();
  syncBanner ??= h("div", { class: "sync-banner", id: "sync-notice", role: "status", hidden: true });
  app.replaceChildren(header(session), banner, syncBanner, content);
  render(content);
}

/** The top bar: the sections `s` may open, the sync line, who is signed in. */
function header(s: SessionInfo): HTMLElement {
  const nav = h("nav", { "aria-label": "Secciones" });
  navItems(s)
    .filter(([, , shown]) => shown)
    .forEach(([r, label], i) => {
      nav.append(
        h(
          "button",
          {
            type: "button",
            id: `nav-${r}`,
            class: r === route ? "active" : "",
            title: `${label} (Alt+${i + 1})`,
            onclick: () => go(r),
          },
          label,
        ),
      );
    });
  return h(
    "header",
    { class: "top" },
    h("strong", { class: "brand" }, "ICC Facturas"),
    nav,
    syncStatusLine(() => go("sincronizacion"), showSyncNotice),
    h(
      "span",
      {
        class: "who",
        id: "who",
        title: s.account ? `Rol y obras de la cuenta del servidor «${s.account}»` : "",
      },
      s.account ? `${s.username} · ${s.role_label} (cuenta ${s.account})` : `${s.username} · ${s.role_label}`,
    ),
    h("button", { type: "button", id: "lock-now", title: "Bloquear (Ctrl+L)", onclick: lockNow }, "Bloquear"),
    h(
      "button",
      {
        type: "button",
        id: "logout",
        onclick: async () => {
          await api.logout();
          session = null;
          boot();
        },
      },
      "Salir",
    ),
  );
}

/** Shows a background sync's notice under the header, with a way to the details. */
function showSyncNotice(text: string): void {
  if (!syncBanner) return;
  const box = syncBanner;
  const close = () => {
    box.hidden = true;
    box.replaceChildren();
  };
  box.replaceChildren(
    h("span", {}, text),
    " ",
    h("button", { type: "button", id: "sync-notice-open", onclick: () => (close(), go("sincronizacion")) }, "Ver Sincronización"),
    " ",
    h("button", { type: "button", id: "sync-notice-close", onclick: close }, "Cerrar"),
  );
  box.hidden = false;
}

function go(r: Route): void {
  if (currentList) filter = currentList.filter();
  route = r;
  main();
}

function render(content: HTMLElement): void {
  if (!session || !status) return;
  clear(content);
  currentList = null;
  switch (route) {
    case "panel":
      content.append(
        panelScreen((f) => {
          filter = { ...EMPTY_FILTER, ...f };
          go("facturas");
        }),
      );
      break;
    case "facturas": {
      // a selection is for one export; the list itself always shows its filters
      const scr = invoicesScreen(
        session,
        { ...filter, ids: null },
        (id) => {
          filter = scr.filter();
          content.replaceChildren(detailScreen(session as SessionInfo, id, () => render(content)));
        },
        (f) => {
          currentList = null;
          filter = f;
          go("exportar");
        },
      );
      currentList = scr;
      content.append(scr.el);
      break;
    }
    case "importar":
      content.append(importScreen());
      break;
    case "exportar":
      content.append(exportScreen(filter));
      break;
    case "pagos":
      content.append(pagosScreen(session));
      break;
    case "cuentas":
      content.append(cuentasScreen(session));
      break;
    case "cesiones":
      content.append(cesionesScreen(session));
      break;
    case "contabilidad":
      content.append(kameScreen());
      break;
    case "presupuesto":
      content.append(presupuestoScreen(session));
      break;
    case "tesoreria":
      content.append(tesoreriaScreen());
      break;
    case "obras":
      content.append(obrasScreen(session));
      break;
    case "proveedores":
      content.append(
        suppliersScreen((r) => {
          filter = { ...EMPTY_FILTER, proveedor: r };
          go("facturas");
        }),
      );
      break;
    case "usuarios":
      content.append(usersScreen());
      break;
    case "diagnostico":
      content.append(diagnosticsScreen(status, session));
      break;
    case "sincronizacion":
      content.append(syncScreen());
      break;
  }
}

async function lockNow(): Promise<void> {
  await api.lock();
  showLock();
}

document.addEventListener("keydown", (e) => {
  if (!session || document.getElementById("lock-screen")) return;
  if (e.ctrlKey && (e.key === "l" || e.key === "L")) {
    e.preventDefault();
    lockNow();
  } else if (e.altKey && /^[1-9]$/.test(e.key)) {
    const items = navItems(session).filter(([, , shown]) => shown);
    const item = items[Number(e.key) - 1];
    if (item) {
      e.preventDefault();
      go(item[0]);
    }
  }
});

// Rust decides when an idle session locks; this only notices sooner than the next command.
window.setInterval(async () => {
  if (!session || document.getElementById("lock-screen")) return;
  try {
    const st = await api.status();
    if (st.locked) showLock();
    else if (st.session && JSON.stringify(st.session) !== JSON.stringify(session)) {
      // IT changed the server account's role or obras: the menus follow what Rust now
      // allows; the screen and whatever is being typed in it stay
      session = st.session;
      document.querySelector("header.top")?.replaceWith(header(session));
    }
  } catch {
    /* the next command reports it */
  }
}, 30_000);

boot();
