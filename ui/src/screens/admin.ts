// Obras and users, by role; and Diagnóstico (the doctor checks) with the installation facts.

import { api, type SessionInfo, type Status } from "../api";
import { clear, errorText, h, say } from "../dom";
import { modal } from "./modal";
import { fecha, fechaHora, rut, thousands } from "../format";
import { iconstruyeSettingsBox } from "./iconstruye";
import { serverBox } from "./sync";
import { updatesBox } from "./updates";

/** A form's submit handler: runs `action`, then says `done` and reloads, or shows the error. */
function submitter(msg: HTMLElement, done: string, reload: () => Promise<void>, action: () => Promise<void>) {
  return async (e: Event) => {
    e.preventDefault();
    try {
      await action();
      say(msg, done, "ok");
      await reload();
    } catch (err) {
      say(msg, errorText(err));
    }
  };
}

export function obrasScreen(session: SessionInfo): HTMLElement {
  const table = h("table", { id: "obras-table" });
  const msg = h("p", { class: "msg", hidden: true, role: "alert" });
  const load = async () => {
    clear(table);
    const manage = session.permissions.includes("manage_obras");
    table.append(h("tr", {}, h("th", {}, "Código"), h("th", {}, "Nombre"), h("th", {}, "Estado"), manage ? h("th", {}, "") : ""));
    try {
      for (const o of await api.listObras()) {
        const edit = () =>
          modal(`Obra ${o.codigo}`, [{ id: "nombre", label: "Nombre", value: o.nombre }], async (v) => {
            await api.updateObra(o.codigo, v.nombre, o.activa);
            await load();
          });
        const toggle = async () => {
          if (o.activa && !window.confirm(`¿Desactivar la obra ${o.codigo}? Sus facturas se conservan.`)) return;
          try {
            await api.updateObra(o.codigo, o.nombre, !o.activa);
            await load();
          } catch (e) {
            say(msg, errorText(e));
          }
        };
        table.append(
          h(
            "tr",
            { class: o.activa ? "" : "muted" },
            h("td", {}, o.codigo),
            h("td", {}, o.nombre),
            h("td", {}, o.activa ? "activa" : "desactivada"),
            manage
              ? h(
                  "td",
                  {},
                  h("button", { type: "button", onclick: edit }, "Renombrar…"),
                  " ",
                  h("button", { type: "button", onclick: toggle }, o.activa ? "Desactivar" : "Activar"),
                )
              : "",
          ),
        );
      }
    } catch (e) {
      say(msg, errorText(e));
    }
  };
  const codigo = h("input", { id: "obra-codigo", placeholder: "OB-2026-025", size: 14 });
  const nombre = h("input", { id: "obra-nombre", placeholder: "Nombre de la obra", size: 40 });
  const form = session.permissions.includes("manage_obras")
    ? h(
        "form",
        {
          class: "toolbar",
          onsubmit: submitter(msg, "Obra creada.", load, async () => {
            await api.addObra(codigo.value.trim(), nombre.value.trim());
            codigo.value = nombre.value = "";
          }),
        },
        codigo,
        nombre,
        h("button", { type: "submit", id: "obra-submit" }, "Crear obra"),
      )
    : "";
  load();
  return h("section", { class: "screen" }, h("h1", {}, "Obras"), form, msg, table);
}

export function usersScreen(): HTMLElement {
  const table = h("table", { id: "users-table" });
  const msg = h("p", { class: "msg", hidden: true, role: "alert" });
  const load = async () => {
    clear(table);
    table.append(h("tr", {}, h("th", {}, "Usuario"), h("th", {}, "Rol"), h("th", {}, "Obras"), h("th", {}, "Estado"), h("th", {}, "")));
    try {
      for (const u of await api.listUsers()) {
        table.append(
          h(
            "tr",
            {},
            h("td", {}, u.username),
            h("td", {}, u.role),
            h("td", {}, u.obras.join(", ")),
            h("td", {}, u.disabled ? "deshabilitado" : "activo"),
            h(
              "td",
              {},
              h(
                "button",
                {
                  type: "button",
                  onclick: () =>
                    modal(
                      `Usuario ${u.username}`,
                      [
                        { id: "role", label: "Rol: admin, gerente, contabilidad o admin_obra", value: u.role },
                        { id: "obras", label: "Obras (códigos separados por comas; para admin_obra)", value: u.obras.join(",") },
                      ],
                      async (v) => {
                        const list = v.obras.split(",").map((s) => s.trim()).filter(Boolean);
                        await api.updateUser(u.username, v.role.trim(), list, u.disabled);
                        await load();
                      },
                    ),
                },
                "Editar…",
              ),
              " ",
              h(
                "button",
                {
                  type: "button",
                  onclick: async () => {
                    if (!u.disabled && !window.confirm(`¿Deshabilitar a «${u.username}»? No podrá volver a ingresar.`)) return;
                    try {
                      await api.updateUser(u.username, u.role, u.obras, !u.disabled);
                      await load();
                    } catch (e) {
                      say(msg, errorText(e));
                    }
                  },
                },
                u.disabled ? "Habilitar" : "Deshabilitar",
              ),
            ),
          ),
        );
      }
    } catch (e) {
      say(msg, errorText(e));
    }
  };
  const name = h("input", { id: "user-name", placeholder: "usuario", size: 14 });
  const role = h(
    "select",
    { id: "user-role" },
    h("option", { value: "admin_obra" }, "Administrador de obra"),
    h("option", { value: "contabilidad" }, "Contabilidad"),
    h("option", { value: "gerente" }, "Gerente"),
    h("option", { value: "admin" }, "Administrador"),
  );
  const obras = h("input", { id: "user-obras", placeholder: "Obras: OB-2026-001,OB-2026-002", size: 30 });
  const pw = h("input", { id: "user-password", type: "password", placeholder: "Contraseña inicial", autocomplete: "new-password" });
  const form = h(
    "form",
    {
      class: "toolbar",
      onsubmit: submitter(msg, "Usuario creado.", load, async () => {
        const list = obras.value.split(",").map((s) => s.trim()).filter(Boolean);
        await api.addUser(name.value.trim(), role.value, list, pw.value);
        name.value = obras.value = pw.value = "";
      }),
    },
    name,
    role,
    obras,
    pw,
    h("button", { type: "submit" }, "Crear usuario"),
  );
  load();
  return h("section", { class: "screen" }, h("h1", {}, "Usuarios"), form, msg, table);
}

export function diagnosticsScreen(status: Status, session: SessionInfo): HTMLElement {
  const msg = h("p", { class: "msg", hidden: true, role: "alert", id: "settings-msg" });
  const minutes = h("input", { id: "lock-minutes", type: "number", min: 1, max: 240, value: status.lock_minutes, size: 5 });
  const lockForm = session.permissions.includes("manage_users")
    ? h(
        "form",
        {
          class: "toolbar",
          onsubmit: async (e: Event) => {
            e.preventDefault();
            try {
              await api.setLockMinutes(Number(minutes.value));
              say(msg, `La sesión se bloqueará tras ${minutes.value} minutos sin uso.`, "ok");
            } catch (err) {
              say(msg, errorText(err));
            }
          },
        },
        h("label", { class: "check" }, "Bloquear tras", minutes, "minutos sin uso"),
        h("button", { type: "submit", id: "lock-minutes-save" }, "Guardar"),
      )
    : "";
  const list = h("ul", { class: "checks", id: "doctor-checks" }, h("li", {}, "Revisando…"));
  api
    .doctor()
    .then((r) => {
      clear(list);
      for (const c of r.checks) {
        list.append(
          h(
            "li",
            { class: c.level === "ok" ? "ok" : c.level === "aviso" ? "warn" : "bad" },
            h("strong", {}, `${c.level === "ok" ? "✔" : c.level === "aviso" ? "⚠" : "✘"} ${c.name}`),
            ": ",
            c.detail,
            c.hint && c.level !== "ok" ? h("div", { class: "muted" }, c.hint) : "",
          ),
        );
      }
    })
    .catch((e) => list.replaceChildren(h("li", { class: "bad" }, errorText(e))));
  return h(
    "section",
    { class: "screen" },
    h("h1", {}, "Configuración y diagnóstico"),
    lockForm,
    msg,
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Versión"),
      h("dd", { id: "app-version" }, status.version),
      h("dt", {}, "Carpeta de datos"),
      h("dd", {}, status.data_dir),
      h("dt", {}, "Bloqueo por inactividad"),
      h("dd", {}, `${status.lock_minutes} minutos`),
    ),
    h("h2", {}, "Verificaciones"),
    list,
    backupsBox(session.permissions.includes("manage_users")),
    serverBox(),
    updatesBox(),
    session.permissions.includes("import") ? iconstruyeSettingsBox() : "",
  );
}

export function suppliersScreen(open: (rut: string) => void): HTMLElement {
  const table = h("table", { id: "suppliers-table" });
  const q = h("input", { type: "search", id: "suppliers-q", placeholder: "Filtrar por nombre o RUT", size: 40 });
  const msg = h("p", { class: "msg", hidden: true, role: "alert" });
  let all: Awaited<ReturnType<typeof api.suppliers>> = [];
  const draw = () => {
    const needle = q.value.trim().toLowerCase().replace(/\./g, "");
    clear(table);
    table.append(h("tr", {}, h("th", {}, "RUT"), h("th", {}, "Razón social"), h("th", {}, "Documentos"), h("th", {}, "Última emisión")));
    for (const s of all.filter((x) => !needle || x.razon_social.toLowerCase().includes(needle) || x.rut.toLowerCase().includes(needle)).slice(0, 2000)) {
      table.append(
        h(
          "tr",
          { class: "link", title: "Ver sus facturas", onclick: () => open(s.rut) },
          h("td", {}, rut(s.rut)),
          h("td", {}, s.razon_social),
          h("td", { class: "num" }, thousands(s.documentos)),
          h("td", {}, fecha(s.ultima_emision)),
        ),
      );
    }
  };
  q.addEventListener("input", draw);
  api
    .suppliers()
    .then((s) => {
      all = s;
      draw();
    })
    .catch((e) => say(msg, errorText(e)));
  return h("section", { class: "screen" }, h("h1", {}, "Proveedores"), q, msg, table);
}

/** Local backups: the list and "create one now" (restoring is for `icc backup restore`). */
function backupsBox(admin: boolean): HTMLElement {
  const table = h("table", { id: "backups-table" });
  const msg = h("p", { class: "msg", hidden: true, role: "alert", id: "backup-msg" });
  const load = async () => {
    clear(table);
    table.append(h("tr", {}, h("th", {}, "Respaldo (UTC)"), h("th", {}, "Facturas"), h("th", {}, "Tamaño"), h("th", {}, "Carpeta")));
    try {
      for (const b of await api.listBackups()) {
        table.append(
          h(
            "tr",
            {},
            h("td", {}, fechaHora(b.created_at)),
            h("td", { class: "num" }, thousands(b.facts.invoices)),
            h("td", { class: "num" }, `${thousands(Math.round(b.size_bytes / 1024))} KB`),
            h("td", {}, b.path),
          ),
        );
      }
    } catch (e) {
      say(msg, errorText(e));
    }
  };
  const create = h(
    "button",
    {
      type: "button",
      id: "backup-create",
      onclick: async () => {
        create.disabled = true;
        try {
          const b = await api.createBackup();
          say(msg, `Respaldo ${b.id} creado y verificado.`, "ok");
          await load();
        } catch (e) {
          say(msg, errorText(e));
        } finally {
          create.disabled = false;
        }
      },
    },
    "Crear respaldo ahora",
  );
  const folder = h("input", { id: "backup-dir", size: 50 });
  api
    .backupDir()
    .then((d) => (folder.value = d))
    .catch((e) => say(msg, errorText(e)));
  const folderForm = admin
    ? h(
        "form",
        {
          class: "toolbar",
          onsubmit: async (e: Event) => {
            e.preventDefault();
            try {
              folder.value = await api.setBackupDir(folder.value.trim());
              say(msg, `Los próximos respaldos irán a ${folder.value}.`, "ok");
            } catch (err) {
              say(msg, errorText(err));
            }
          },
        },
        h("label", { class: "field" }, h("span", {}, "Carpeta de respaldos (puede ser otro disco)"), folder),
        h("button", { type: "submit", id: "backup-dir-save" }, "Cambiar carpeta"),
      )
    : h("p", { class: "muted" }, "Carpeta de respaldos: ", folder);
  load();
  return h(
    "div",
    {},
    h("h2", {}, "Respaldos"),
    h("p", { class: "muted" }, "Se toma uno al abrir la aplicación si el último tiene más de 24 horas; se guardan 7 diarios, 4 semanales y 12 mensuales."),
    folderForm,
    create,
    msg,
    table,
  );
}
