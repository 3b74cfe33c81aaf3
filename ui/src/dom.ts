// A tiny element builder: enough for clear screens without a framework.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | ((e: Event) => void) | undefined | null>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2).toLowerCase(), v as EventListener);
    } else if (k === "class") {
      el.className = String(v);
    } else if (v === true) {
      el.setAttribute(k, "");
    } else if (k === "value" && "value" in el) {
      (el as HTMLInputElement).value = String(v);
    } else {
      el.setAttribute(k, String(v));
    }
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

/** A labelled input; returns the wrapper and the input. */
export function field(
  label: string,
  attrs: Attrs,
): { wrap: HTMLLabelElement; input: HTMLInputElement } {
  const input = h("input", attrs);
  const wrap = h("label", { class: "field" }, h("span", {}, label), input);
  return { wrap, input };
}

/** Shows an error or notice in a message box element. */
export function say(box: HTMLElement, text: string, kind: "error" | "ok" | "info" = "error"): void {
  box.textContent = text;
  box.className = `msg msg-${kind}`;
  box.hidden = text === "";
}

export function errorText(e: unknown): string {
  if (e && typeof e === "object" && "message" in e) return String((e as { message: unknown }).message);
  return String(e);
}

/** Calls `f` with the paths of files dropped on the window while `owner` is on screen. */
export function onDrop(owner: HTMLElement, f: (paths: string[]) => void): void {
  import("@tauri-apps/api/webview")
    .then(async ({ getCurrentWebview }) => {
      const stop = await getCurrentWebview().onDragDropEvent((e) => {
        if (!owner.isConnected) return stop();
        if (e.payload.type === "drop") f(e.payload.paths);
      });
    })
    .catch(() => {});
}
