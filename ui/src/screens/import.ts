// Importar: choose files (dialog, drag-and-drop or a path), preview with row errors,
// confirm, progress with cancel, summary.

import { api, chooseFiles, type ImportReport } from "../api";
import { clear, errorText, h, onDrop, say } from "../dom";
import { clp, fecha, thousands } from "../format";
import { jobView } from "./jobs";

export function importScreen(): HTMLElement {
  let paths: string[] = [];
  const fileList = h("ul", { id: "import-files", class: "files" });
  const pathInput = h("input", { id: "import-path", placeholder: "…o escriba la ruta de un archivo y presione Agregar", size: 60 });
  const update = h("input", { type: "checkbox", id: "import-update" });
  const sheet = h("input", { id: "import-sheet", placeholder: "Hoja (opcional)", size: 18 });
  const msg = h("p", { class: "msg", hidden: true, role: "alert", id: "import-msg" });
  const result = h("div", { id: "import-result" });
  const job = jobView();
  const previewBtn = h("button", { type: "button", id: "import-preview", disabled: true }, "Vista previa");
  const commitBtn = h("button", { type: "button", id: "import-commit", class: "primary", disabled: true }, "Importar");

  const drawFiles = () => {
    clear(fileList);
    for (const p of paths) {
      fileList.append(
        h(
          "li",
          {},
          p,
          " ",
          h("button", { type: "button", class: "link", onclick: () => ((paths = paths.filter((x) => x !== p)), drawFiles()) }, "quitar"),
        ),
      );
    }
    previewBtn.disabled = commitBtn.disabled = paths.length === 0;
    clear(result);
  };
  const add = (ps: string[]) => {
    for (const p of ps) if (p && !paths.includes(p)) paths.push(p);
    drawFiles();
  };

  const request = (dry: boolean) => ({
    paths,
    dry_run: dry,
    update_duplicates: update.checked,
    sheet: sheet.value.trim() || null,
  });
  const run = async (dry: boolean) => {
    say(msg, "");
    previewBtn.disabled = commitBtn.disabled = true;
    try {
      const r = await job.run((id) => api.importFiles(id, request(dry)));
      drawReport(r);
      if (!dry) {
        say(
          msg,
          `Importación terminada: ${thousands(r.total.inserted)} nuevas, ${thousands(r.total.updated)} actualizadas, ${thousands(r.total.duplicates)} ya existían, ${thousands(r.total.rejected)} rechazadas.`,
          r.total.rejected ? "error" : "ok",
        );
      }
    } catch (e) {
      say(msg, errorText(e));
    } finally {
      previewBtn.disabled = commitBtn.disabled = paths.length === 0;
    }
  };
  previewBtn.addEventListener("click", () => run(true));
  commitBtn.addEventListener("click", () => run(false));

  const drawReport = (r: ImportReport) => {
    clear(result);
    for (const f of r.files) {
      const detected = f.parsed
        ? f.parsed.detected.kind === "rcv"
          ? `Registro de Compras SII (${f.parsed.detected.variant ?? ""})`
          : `planilla, hoja «${f.parsed.sheet ?? ""}», encabezado en la fila ${f.parsed.header_row}`
        : "no se pudo leer";
      result.append(
        h("h3", {}, f.file),
        h(
          "p",
          { class: "muted" },
          `Formato detectado: ${detected}. Documentos: ${thousands(f.documents)}; nuevos: ${thousands(r.dry_run ? f.documents - f.duplicates - f.rejected : f.inserted)}; ya existentes: ${thousands(f.duplicates)}; rechazados: ${thousands(f.rejected)}.`,
          f.already_imported ? " Este archivo ya se importó antes: no hay nada que hacer." : "",
        ),
      );
      if (f.errors.length) {
        result.append(
          h(
            "table",
            { class: "errors", id: "import-errors" },
            h("tr", {}, h("th", {}, "Hoja"), h("th", {}, "Fila"), h("th", {}, "Columna"), h("th", {}, "Valor"), h("th", {}, "Problema")),
            ...f.errors.slice(0, 500).map((e) =>
              h("tr", { class: "error-row" }, h("td", {}, e.sheet ?? ""), h("td", {}, e.row ?? ""), h("td", {}, e.column ?? ""), h("td", {}, e.value ?? ""), h("td", {}, e.message)),
            ),
          ),
        );
      }
      if (f.preview?.length) {
        result.append(
          h(
            "table",
            { class: "preview", id: "import-preview-table" },
            h("tr", {}, h("th", {}, "Fila"), h("th", {}, "Documento"), h("th", {}, "Proveedor"), h("th", {}, "Emisión"), h("th", {}, "Total"), h("th", {}, "Resultado")),
            ...f.preview.slice(0, 1000).map((p) =>
              h(
                "tr",
                { class: `preview-${p.estado}` },
                h("td", {}, p.row),
                h("td", {}, p.key),
                h("td", {}, p.razon_social),
                h("td", {}, fecha(p.fecha_emision)),
                h("td", { class: "num" }, clp(p.monto_total)),
                h("td", {}, p.motivo ? `${p.estado}: ${p.motivo}` : p.estado),
              ),
            ),
          ),
        );
      }
    }
  };

  const root = h(
    "section",
    { class: "screen import" },
    h("h1", {}, "Importar facturas"),
    h("p", {}, "Registro de Compras del SII (CSV), planillas Excel (xlsx, xls, ods) o CSV. Arrastre los archivos a esta ventana o elíjalos."),
    h(
      "div",
      { class: "toolbar" },
      h("button", { type: "button", id: "import-choose", onclick: async () => add(await chooseFiles()) }, "Elegir archivos…"),
      pathInput,
      h("button", { type: "button", id: "import-add", onclick: () => (add([pathInput.value.trim()]), (pathInput.value = "")) }, "Agregar"),
    ),
    fileList,
    h("div", { class: "toolbar" }, h("label", { class: "check" }, update, "Actualizar los documentos que ya existen"), sheet),
    h("div", { class: "toolbar" }, previewBtn, commitBtn),
    job.el,
    msg,
    result,
  );
  onDrop(root, add);
  return root;
}
