// Attachments shown inside the app: PDFs drawn page by page with pdf.js (bundled, loaded
// only when a PDF is opened), XML as text in its declared encoding. Rust reads the file
// (only for users who may see the invoice) and sends its bytes; nothing leaves the app.

import { api } from "../api";
import { errorText, h } from "../dom";

/** Decodes base64 to bytes. */
export function fromBase64(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** An XML file's text in the encoding its prolog declares (SII DTEs are ISO-8859-1). */
export function xmlText(bytes: Uint8Array): string {
  const head = new TextDecoder("latin1").decode(bytes.slice(0, 200));
  const m = /encoding\s*=\s*["']([A-Za-z0-9._-]+)["']/.exec(head);
  let label = m ? m[1].toLowerCase() : "utf-8";
  try {
    return new TextDecoder(label).decode(bytes);
  } catch {
    label = "utf-8";
    return new TextDecoder(label).decode(bytes);
  }
}

async function drawPdf(body: HTMLElement, bytes: Uint8Array, status: HTMLElement): Promise<void> {
  const pdfjs = await import("pdfjs-dist/legacy/build/pdf.mjs");
  const worker = await import("pdfjs-dist/legacy/build/pdf.worker.min.mjs?url");
  pdfjs.GlobalWorkerOptions.workerSrc = worker.default;
  const doc = await pdfjs.getDocument({ data: bytes, useSystemFonts: true }).promise;
  const pages = Math.min(doc.numPages, 50);
  status.textContent = doc.numPages > pages ? `Páginas 1 a ${pages} de ${doc.numPages}` : `${doc.numPages} página(s)`;
  const width = Math.min(900, Math.max(400, body.clientWidth - 32));
  for (let n = 1; n <= pages; n++) {
    const page = await doc.getPage(n);
    const base = page.getViewport({ scale: 1 });
    const viewport = page.getViewport({ scale: width / base.width });
    const canvas = h("canvas", { class: "pdf-page", "data-page": n });
    canvas.width = Math.floor(viewport.width);
    canvas.height = Math.floor(viewport.height);
    body.append(canvas);
    await page.render({ canvas, viewport }).promise;
  }
}

/** Opens the viewer over the current screen; Escape or Cerrar closes it. */
export function showAttachment(id: number, fileName: string): void {
  const status = h("span", { id: "viewer-status" }, "Cargando…");
  const body = h("div", { class: "viewer-body", id: "viewer-body" });
  const close = () => {
    overlay.remove();
    document.removeEventListener("keydown", onKey);
  };
  const onKey = (e: KeyboardEvent) => {
    if (e.key === "Escape") close();
  };
  const overlay = h(
    "div",
    { class: "overlay viewer", role: "dialog", "aria-modal": "true", "aria-label": fileName },
    h(
      "div",
      { class: "viewer-bar" },
      h("strong", {}, fileName),
      " ",
      status,
      h(
        "button",
        { type: "button", id: "viewer-external", onclick: () => api.openAttachment(id).catch((e) => (status.textContent = errorText(e))) },
        "Abrir con el visor del sistema",
      ),
      h("button", { type: "button", id: "viewer-close", onclick: close }, "Cerrar"),
    ),
    body,
  );
  document.addEventListener("keydown", onKey);
  document.body.append(overlay);
  api
    .readAttachment(id)
    .then(async (c) => {
      const bytes = fromBase64(c.data_base64);
      if (c.kind === "pdf") {
        await drawPdf(body, bytes, status);
      } else if (c.kind === "xml") {
        body.append(h("pre", { class: "xml", id: "viewer-xml" }, xmlText(bytes)));
        status.textContent = "XML";
      } else {
        status.textContent = "Este tipo de archivo no se puede mostrar aquí; use «Abrir con el visor del sistema».";
      }
    })
    .catch((e) => {
      status.textContent = `No se pudo mostrar: ${errorText(e)}`;
      status.className = "msg msg-error";
    });
}
