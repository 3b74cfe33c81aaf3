// Importar: choose files (dialog, drag-and-drop or a path), preview with row errors,
// confirm, progress with cancel, summary.

import { api, chooseFiles, type ImportReport } from "../api";
import { clear, errorText, h, onDrop, say } from "../dom";
import { clp, fecha, thousands } from "../format";
import { iconstruyePullBox } from "./iconstruye";
import { cesionReport } from "./pagos";
import { jobView } from "./jobs";

// The fields a generic sheet can fill, with the names accountants use.
const FIELDS: Array<[string, string]> = [
  ["rut", "RUT proveedor"],
  ["razon_social", "Razón social"],
  ["tipo", "Tipo de documento"],
  ["folio", "Folio"],
  ["fecha_emision", "Fecha de emisión"],
  ["fecha_recepcion", "Fecha de recepción SII"],
  ["fecha_vencimiento", "Fecha de vencimiento"],
  ["neto", "Neto"],
  ["exento", "Exento"],
  ["iva", "IVA"],
  ["total", "Total"],
  ["obra", "Obra"],
  ["centro_costo", "Centro de costo"],
  ["cuenta", "Cuenta contable"],
  ["orden_compra", "Orden de compra"],
  ["glosa", "Glosa"],
];

type Mapping = Record<string, string>;

export function importScreen(): HTMLElement {
  let paths: string[] = [];
  const fileList = h("ul", { id: "import-files", class: "files" });
  const pathInput = h("input", { id: "import-path", placeholder: "…o escriba la ruta de un archivo y presione Agregar", size: 60 });
  const update = h("input", { type: "checkbox", id: "import-update" });
  const sheet = h("input", { id: "import-sheet", placeholder: "Hoja (opcional)", size: 18 });
  const msg = h("p", { class: "msg", hidden: true, role: "alert", id: "import-msg" });
  const result = h("div", { id: "import-result" });
  // what asks for a decision (obras to create), above the column mapping of a long sheet
  const notice = h("div", { id: "import-notice" });
  const job = jobView();
  const previewBtn = h("button", { type: "button", id: "import-preview", disabled: true }, "Vista previa");
  const profile = h("select", { id: "import-profile" }, h("option", { value: "" }, "Columnas: detectar automáticamente"));
  api
    .mappingProfiles()
    .then((names) => names.forEach((n) => profile.append(h("option", { value: n }, `Perfil: ${n}`))))
    .catch(() => {});
  let mapping: Mapping | null = null;
  let saveAs: string | null = null;
  // after «Crear obras»: imports also give stored invoices without obra the one their row names
  let assignObras = false;
  profile.addEventListener("change", () => (mapping = null));
  const mappingBox = h("div", { id: "import-mapping" });
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
    mapping = null;
    // «Crear obras» answered for the files it was shown with: other files' unknown obras
    // are created only when the user asks again
    assignObras = false;
    clear(result);
    clear(notice);
    clear(mappingBox);
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
    mapping,
    profile: mapping ? null : profile.value || null,
    save_profile: saveAs,
    crear_obras: assignObras,
  });
  // `done`: what the user did just before (obras created), said with the outcome
  const run = async (dry: boolean, done = "") => {
    say(msg, "");
    previewBtn.disabled = commitBtn.disabled = true;
    try {
      const r = await job.run((id) => api.importFiles(id, request(dry)));
      saveAs = null;
      drawReport(r);
      drawMapping(r);
      if (!dry) {
        const n = r.total.obras_asignadas;
        const assigned =
          n === 0
            ? ""
            : n === 1
              ? " 1 factura ya guardada quedó asignada a su obra."
              : ` ${thousands(n)} facturas ya guardadas quedaron asignadas a su obra.`;
        say(
          msg,
          `${done}Importación terminada: ${thousands(r.total.inserted)} nuevas, ${thousands(r.total.updated)} actualizadas, ${thousands(r.total.duplicates)} ya existían, ${thousands(r.total.rejected)} rechazadas.${assigned}`,
          r.total.rejected ? "error" : "ok",
        );
      } else if (done) {
        say(msg, `${done}Al importar, las facturas de esas filas quedan asignadas a su obra.`, "ok");
      }
    } catch (e) {
      say(msg, errorText(e));
    } finally {
      previewBtn.disabled = commitBtn.disabled = paths.length === 0;
    }
  };
  previewBtn.addEventListener("click", () => run(true));
  commitBtn.addEventListener("click", () => run(false));

  // The columns of the first generic sheet, each field on a column the user can change.
  const drawMapping = (r: ImportReport) => {
    clear(mappingBox);
    const parsed = r.files.find((f) => f.parsed?.detected.kind === "generic")?.parsed;
    if (!parsed) return;
    const current: Mapping = { ...(mapping ?? (parsed.mapping_letters as Mapping)) };
    const rows = FIELDS.map(([field, label]) => {
      const select = h(
        "select",
        { id: `map-${field}`, "aria-label": label },
        h("option", { value: "" }, "— sin asignar —"),
        ...parsed.columns.map(([letter, text]) => h("option", { value: letter }, `${letter} · ${text}`)),
      );
      select.value = current[field] ?? "";
      select.addEventListener("change", () => {
        if (select.value) current[field] = select.value;
        else delete current[field];
      });
      return h("tr", {}, h("td", {}, label), h("td", {}, select));
    });
    const name = h("input", { id: "map-profile-name", placeholder: "Nombre del perfil (opcional)", size: 24 });
    mappingBox.append(
      h("h3", {}, `Columnas de «${parsed.sheet ?? parsed.file}» (encabezado en la fila ${parsed.header_row})`),
      h("table", { class: "mapping" }, ...rows),
      h(
        "div",
        { class: "toolbar" },
        name,
        h(
          "button",
          {
            type: "button",
            id: "map-apply",
            onclick: () => {
              mapping = { ...current };
              saveAs = name.value.trim() || null;
              run(true);
            },
          },
          "Aplicar columnas y previsualizar",
        ),
      ),
    );
  };

  const drawReport = (r: ImportReport) => {
    clear(result);
    clear(notice);
    if (r.cesiones) {
      // cesión files among the chosen ones: told apart by their content
      result.append(h("h3", {}, "Archivos de cesiones"), cesionReport(r.cesiones));
    }
    if (r.total.obras_nuevas.length) {
      // a file naming obras that do not exist: its invoices are imported without obra
      // unless the obras are created (one click, checked in Rust against the role)
      const create = h(
        "button",
        {
          type: "button",
          id: "import-create-obras",
          onclick: async () => {
            try {
              const made = await api.createObras(r.total.obras_nuevas);
              assignObras = true;
              // said after the run, which clears the message when it starts
              await run(r.dry_run, `Obras creadas: ${made.join(", ") || "ninguna nueva"}. `);
            } catch (e) {
              say(msg, errorText(e));
            }
          },
        },
        "Crear obras",
      );
      notice.append(
        h(
          "div",
          { class: "box", id: "import-unknown-obras" },
          h("p", {}, `Obras que no existen: ${r.total.obras_nuevas.join(", ")}. Sus facturas se importan sin obra; créelas para asignarlas.`),
          create,
        ),
      );
    }
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
      if (f.warnings.length) {
        result.append(
          h(
            "table",
            { class: "errors warnings", id: "import-warnings" },
            h("tr", {}, h("th", {}, "Hoja"), h("th", {}, "Fila"), h("th", {}, "Columna"), h("th", {}, "Valor"), h("th", {}, "Aviso")),
            ...f.warnings.slice(0, 500).map((e) =>
              h("tr", { class: "warning-row" }, h("td", {}, e.sheet ?? ""), h("td", {}, e.row ?? ""), h("td", {}, e.column ?? ""), h("td", {}, e.value ?? ""), h("td", {}, e.message)),
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
    h("div", { class: "toolbar" }, h("label", { class: "check" }, update, "Actualizar los documentos que ya existen"), sheet, profile),
    h("div", { class: "toolbar" }, previewBtn, commitBtn),
    job.el,
    msg,
    notice,
    mappingBox,
    result,
    iconstruyePullBox(),
  );
  onDrop(root, add);
  return root;
}
