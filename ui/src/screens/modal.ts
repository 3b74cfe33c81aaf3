// A small modal form: fields, Aceptar / Cancelar, Escape closes, errors shown in place.

import { errorText, h, say } from "../dom";

export function modal(
  title: string,
  fields: Array<{ id: string; label: string; value?: string; options?: string[] }>,
  onAccept: (values: Record<string, string>) => Promise<void>,
): void {
  // `options`: suggestions offered as the field is typed (a datalist; any text is accepted)
  const inputs = fields.map((f) => ({
    f,
    input: h("input", { id: `modal-${f.id}`, value: f.value ?? "", list: f.options ? `modal-${f.id}-options` : undefined }),
    options: f.options ? h("datalist", { id: `modal-${f.id}-options` }, ...f.options.map((o) => h("option", { value: o }))) : null,
  }));
  const msg = h("p", { class: "msg", hidden: true, role: "alert" });
  const close = () => overlay.remove();
  const form = h(
    "form",
    {
      class: "card modal",
      role: "dialog",
      "aria-modal": "true",
      "aria-label": title,
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const values: Record<string, string> = {};
        for (const { f, input } of inputs) values[f.id] = input.value;
        try {
          await onAccept(values);
          close();
        } catch (err) {
          say(msg, errorText(err));
        }
      },
    },
    h("h2", {}, title),
    ...inputs.map(({ f, input, options }) => h("label", { class: "field" }, h("span", {}, f.label), input, options)),
    msg,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary", id: "modal-accept" }, "Aceptar"),
      h("button", { type: "button", onclick: close }, "Cancelar"),
    ),
  );
  const overlay = h("div", { class: "overlay" }, form);
  overlay.addEventListener("keydown", (e) => {
    if ((e as KeyboardEvent).key === "Escape") close();
  });
  document.body.append(overlay);
  inputs[0]?.input.focus();
}

/** Asks a yes/no question in a dialog and resolves `true` only on the accept button.
 *  Keyboard: focus starts on Cancelar (the safe answer), Tab stays inside the dialog,
 *  Enter or Space press the focused button, Escape cancels; focus returns where it was. */
export function confirmDialog(title: string, text: string, acceptLabel: string): Promise<boolean> {
  const before = document.activeElement as HTMLElement | null;
  return new Promise((resolve) => {
    const done = (answer: boolean) => () => {
      overlay.remove();
      before?.focus();
      resolve(answer);
    };
    const accept = h("button", { type: "button", class: "primary", id: "confirm-accept", onclick: done(true) }, acceptLabel);
    const cancel = h("button", { type: "button", id: "confirm-cancel", onclick: done(false) }, "Cancelar");
    const box = h(
      "div",
      { class: "card modal", role: "alertdialog", "aria-modal": "true", "aria-labelledby": "confirm-title", "aria-describedby": "confirm-text" },
      h("h2", { id: "confirm-title" }, title),
      h("p", { id: "confirm-text", class: "confirm-text" }, text),
      h("div", { class: "actions" }, accept, cancel),
    );
    const overlay = h("div", { class: "overlay" }, box);
    overlay.addEventListener("keydown", (e) => {
      const k = e as KeyboardEvent;
      if (k.key === "Escape") {
        k.preventDefault();
        done(false)();
      } else if (k.key === "Tab") {
        // two buttons: Tab and Shift+Tab go to the other one
        k.preventDefault();
        (document.activeElement === accept ? cancel : accept).focus();
      }
    });
    document.body.append(overlay);
    cancel.focus();
  });
}
