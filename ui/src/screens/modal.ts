// A small modal form: fields, Aceptar / Cancelar, Escape closes, errors shown in place.

import { errorText, h, say } from "../dom";

export function modal(
  title: string,
  fields: Array<{ id: string; label: string; value?: string }>,
  onAccept: (values: Record<string, string>) => Promise<void>,
): void {
  const inputs = fields.map((f) => ({ f, input: h("input", { id: `modal-${f.id}`, value: f.value ?? "" }) }));
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
    ...inputs.map(({ f, input }) => h("label", { class: "field" }, h("span", {}, f.label), input)),
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
