// Primer uso (create the first administrator), login and the lock screen.

import { api, type SessionInfo } from "../api";
import { errorText, field, h, say } from "../dom";

export function firstRun(onDone: (s: SessionInfo) => void): HTMLElement {
  const user = field("Nombre de usuario del administrador", { id: "setup-user", autocomplete: "username", required: true });
  const pw = field("Contraseña (12 caracteres o más, difícil de adivinar)", {
    id: "setup-password",
    type: "password",
    autocomplete: "new-password",
    required: true,
  });
  const pw2 = field("Repita la contraseña", { id: "setup-password2", type: "password", autocomplete: "new-password" });
  const msg = h("p", { class: "msg", hidden: true, role: "alert", id: "setup-msg" });
  const submit = h("button", { type: "submit", id: "setup-submit", class: "primary" }, "Crear administrador");
  const form = h(
    "form",
    {
      class: "card auth",
      onsubmit: async (e: Event) => {
        e.preventDefault();
        if (pw.input.value !== pw2.input.value) return say(msg, "Las contraseñas no coinciden.");
        submit.disabled = true;
        try {
          const session = await api.initAdmin(user.input.value.trim(), pw.input.value);
          const key = await api.recoveryKey().catch(() => null);
          if (key) form.replaceWith(recoveryKeySheet(key, () => onDone(session)));
          else onDone(session);
        } catch (err) {
          say(msg, errorText(err));
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("h1", {}, "Bienvenido a ICC Facturas"),
    h(
      "p",
      {},
      "Esta instalación todavía no tiene usuarios. Cree el primer administrador: no existe ninguna cuenta predeterminada.",
    ),
    user.wrap,
    pw.wrap,
    pw2.wrap,
    msg,
    submit,
  );
  queueMicrotask(() => user.input.focus());
  return form;
}

/** The recovery key, shown once after the first administrator is created, to print. */
export function recoveryKeySheet(key: string, onDone: () => void): HTMLElement {
  const done = h("button", { type: "button", id: "recovery-continue", class: "primary", onclick: onDone }, "Ya la guardé: continuar");
  const sheet = h(
    "div",
    { class: "card auth recovery", role: "dialog", "aria-labelledby": "recovery-title" },
    h("h1", { id: "recovery-title" }, "Clave de recuperación"),
    h(
      "p",
      {},
      "Los datos de este equipo quedaron cifrados con una clave guardada en el llavero del sistema. Si el llavero se pierde (equipo reinstalado, perfil dañado), solo esta clave permite abrirlos. Imprímala y guárdela bajo llave, lejos del equipo.",
    ),
    h("pre", { id: "recovery-key", class: "recovery-key" }, key),
    h(
      "p",
      { class: "muted" },
      "Un administrador puede volver a imprimirla con «icc encryption recovery-key». Para usarla: «icc encryption recover».",
    ),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", id: "recovery-print", onclick: () => window.print() }, "Imprimir"),
      done,
    ),
  );
  queueMicrotask(() => done.focus());
  return sheet;
}

export function login(onDone: (s: SessionInfo) => void): HTMLElement {
  const user = field("Usuario", { id: "login-user", autocomplete: "username", required: true });
  const pw = field("Contraseña", { id: "login-password", type: "password", autocomplete: "current-password", required: true });
  const msg = h("p", { class: "msg", hidden: true, role: "alert", id: "login-msg" });
  const submit = h("button", { type: "submit", id: "login-submit", class: "primary" }, "Ingresar");
  const form = h(
    "form",
    {
      class: "card auth",
      onsubmit: async (e: Event) => {
        e.preventDefault();
        submit.disabled = true;
        try {
          onDone(await api.login(user.input.value.trim(), pw.input.value));
        } catch (err) {
          say(msg, errorText(err));
          pw.input.select();
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("h1", {}, "ICC Facturas"),
    user.wrap,
    pw.wrap,
    msg,
    submit,
  );
  queueMicrotask(() => user.input.focus());
  return form;
}

export function lockScreen(username: string, onDone: (s: SessionInfo) => void, onLogout: () => void): HTMLElement {
  const pw = field(`Contraseña de ${username}`, { id: "unlock-password", type: "password", autocomplete: "current-password" });
  const msg = h("p", { class: "msg", hidden: true, role: "alert", id: "unlock-msg" });
  const form = h(
    "form",
    {
      class: "card auth",
      id: "lock-screen",
      onsubmit: async (e: Event) => {
        e.preventDefault();
        try {
          onDone(await api.unlock(pw.input.value));
        } catch (err) {
          say(msg, errorText(err));
          pw.input.select();
        }
      },
    },
    h("h1", {}, "Sesión bloqueada"),
    h("p", {}, "Por seguridad la sesión se bloqueó. Escriba su contraseña para continuar donde estaba."),
    pw.wrap,
    msg,
    h("button", { type: "submit", class: "primary", id: "unlock-submit" }, "Desbloquear"),
    h("button", { type: "button", class: "link", onclick: onLogout }, "Cerrar sesión y entrar con otro usuario"),
  );
  queueMicrotask(() => pw.input.focus());
  return form;
}
