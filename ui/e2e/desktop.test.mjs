// End to end: the real ICC Facturas binary in a virtual display, driven over WebDriver
// (tauri-driver + WebKitWebDriver). First run → create admin → import an RCV file →
// filter and search → detail → approve and reject → export and read it back → lock and
// unlock → iConstruye key and pull (against the fake server). A screenshot of each screen goes to test-artifacts/e2e/.
//
// Run by scripts/e2e (which builds the app and starts the display); needs ICC_E2E_APP.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { Builder, By, until } from "selenium-webdriver";

const APP = process.env.ICC_E2E_APP;
const FAKE = process.env.ICC_E2E_FAKE_ICONSTRUYE;
const FAKE_KEY = "e2e-clave-iconstruye-5b9d2f";
const FAKE_KAME = process.env.ICC_E2E_FAKE_KAME;
const KAME_ID = "icc-e2e";
const KAME_SECRET = "e2e-secreto-kame-3c9a71";
const ARTIFACTS = process.env.ICC_E2E_ARTIFACTS ?? path.resolve("test-artifacts/e2e");
const PASSWORD = "Faena-Hormigon-Moldaje-2026";
const TIMEOUT = 20_000;

let driver;
let tauriDriver;
let fake;
let fakeKame;
let updates;
let work;
let shot = 0;

async function screenshot(name) {
  shot += 1;
  const png = await driver.takeScreenshot();
  fs.writeFileSync(path.join(ARTIFACTS, `${String(shot).padStart(2, "0")}-${name}.png`), png, "base64");
}

const $ = (css) => driver.wait(until.elementLocated(By.css(css)), TIMEOUT);
async function visible(css) {
  const el = await $(css);
  await driver.wait(until.elementIsVisible(el), TIMEOUT);
  return el;
}
async function type(css, text) {
  const el = await visible(css);
  await el.clear();
  await el.sendKeys(text);
}
async function click(css) {
  await (await visible(css)).click();
}
async function textOf(css) {
  return (await visible(css)).getText();
}
async function waitText(css, pattern) {
  await driver.wait(async () => pattern.test(await textOf(css).catch(() => "")), TIMEOUT, `${css} ~ ${pattern}`);
  return textOf(css);
}
async function rows() {
  return driver.findElements(By.css("#invoice-list .row"));
}
// The list redraws its rows as it scrolls, so read its text in one step in the page.
async function listText() {
  return driver.executeScript("return document.getElementById('invoice-list').textContent");
}
// Clicks (or double-clicks) inside the i-th list row, finding it again if the list redrew
// it in between.
async function clickRow(i, inner = null, double = false) {
  for (let attempt = 0; ; attempt++) {
    try {
      const row = (await rows())[i];
      const target = inner ? await row.findElement(By.css(inner)) : row;
      if (double) await driver.actions().doubleClick(target).perform();
      else await target.click();
      return;
    } catch (e) {
      if (e.name !== "StaleElementReferenceError" || attempt >= 5) throw e;
      await driver.sleep(100);
    }
  }
}
async function waitRows(n) {
  await driver.wait(async () => (await rows()).length === n, TIMEOUT, `${n} rows`);
}

// An SII RCV "Registro" file, as downloaded: `;`, CRLF, 27 columns.
function rcvFile(dir) {
  const header =
    "Nro;Tipo Doc;Tipo Compra;RUT Proveedor;Razon Social;Folio;Fecha Docto;Fecha Recepcion;Fecha Acuse;Monto Exento;Monto Neto;Monto IVA Recuperable;Monto Iva No Recuperable;Codigo IVA No Rec.;Monto Total;Monto Neto Activo Fijo;IVA Activo Fijo;IVA uso Comun;Impto. Sin Derecho a Credito;IVA No Retenido;Tabacos Puros;Tabacos Cigarrillos;Tabacos Elaborados;NCE o NDE sobre Fact. de Compra;Codigo Otro Impuesto;Valor Otro Impuesto;Tasa Otro Impuesto";
  const today = new Date();
  const d = (offset) => {
    const x = new Date(today.getTime() - offset * 86400000);
    return `${String(x.getDate()).padStart(2, "0")}/${String(x.getMonth() + 1).padStart(2, "0")}/${x.getFullYear()}`;
  };
  const row = (n, rut, name, folio, neto) =>
    [n, 33, "Del Giro", rut, name, folio, d(5), `${d(4)} 10:15:00`, "", 0, neto, Math.round(neto * 0.19), 0, "", neto + Math.round(neto * 0.19), "", "", "", "", "", "", "", "", "", "", "", ""].join(";");
  const lines = [
    header,
    row(1, "76555835-2", "Hormigones Andinos SpA", 5001, 1000000),
    row(2, "76177907-9", "Ferretería Ñuñoa Ltda.", 5002, 250000),
    row(3, "96874030-K", "Moldajes del Sur S.A.", 5003, 420000),
  ];
  const file = path.join(dir, "RCV_COMPRA_REGISTRO_E2E.csv");
  fs.writeFileSync(file, lines.join("\r\n") + "\r\n");
  return file;
}

/** Kills any process still running the app binary under test (Linux /proc). */
function killLeftoverApps() {
  for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    let cmd = "";
    try {
      cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0];
    } catch {
      continue; // gone meanwhile, or not ours to read
    }
    if (cmd === APP) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // already exiting
      }
    }
  }
}

/** A valid one-page PDF with a line of text (offsets computed: ASCII only). */
function onePagePdf(text) {
  const content = `BT /F1 24 Tf 72 760 Td (${text}) Tj ET`;
  const objs = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
  ];
  let out = "%PDF-1.4\n";
  const offsets = [];
  objs.forEach((o, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n`;
  out += offsets.map((o) => `${String(o).padStart(10, "0")} 00000 n \n`).join("");
  out += `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return out;
}

before(async () => {
  assert.ok(APP && fs.existsSync(APP), "ICC_E2E_APP must point at the built app");
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  work = fs.mkdtempSync(path.join(os.tmpdir(), "icc-e2e-"));
  // the fake iConstruye (a real HTTP server on 127.0.0.1), for the pull at the end
  assert.ok(FAKE && fs.existsSync(FAKE), "ICC_E2E_FAKE_ICONSTRUYE must point at icc-iconstruye-fake");
  const since = new Date(Date.now() - 25 * 86_400_000).toISOString().slice(0, 10);
  fake = spawn(FAKE, ["--port", "0", "--seed", "5", "--invoices", "60", "--desde", since, "--dias", "20",
    "--malformed-every", "20", "--key", FAKE_KEY], { stdio: ["ignore", "pipe", "inherit"] });
  const fakeUrl = await new Promise((resolve, reject) => {
    fake.stdout.on("data", (b) => {
      const m = /(http:\/\/127\.0\.0\.1:\d+)/.exec(b.toString());
      if (m) resolve(m[1]);
    });
    fake.on("exit", (c) => reject(new Error(`icc-iconstruye-fake exited with ${c}`)));
  });
  // the fake Kame, for the Contabilidad screen
  assert.ok(FAKE_KAME && fs.existsSync(FAKE_KAME), "ICC_E2E_FAKE_KAME must point at icc-kame-fake");
  fakeKame = spawn(FAKE_KAME, ["--port", "0", "--client-id", KAME_ID, "--fichas", "10"], {
    env: { ...process.env, ICC_FAKE_KAME_SECRET: KAME_SECRET },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const kameUrl = await new Promise((resolve, reject) => {
    fakeKame.stdout.on("data", (b) => {
      const m = /(http:\/\/127\.0\.0\.1:\d+)/.exec(b.toString());
      if (m) resolve(m[1]);
    });
    fakeKame.on("exit", (c) => reject(new Error(`icc-kame-fake exited with ${c}`)));
  });
  // a local update server offering a newer version (the offer must show; nothing installs)
  updates = http.createServer((req, res) => {
    if (req.url.endsWith("/latest.json")) {
      const entry = { url: `http://127.0.0.1:${updates.address().port}/icc-facturas_99.0.0_amd64.deb`, signature: "c2lu" };
      res.writeHead(200, { "content-type": "application/json", connection: "close" });
      res.end(JSON.stringify({
        version: "99.0.0",
        notes: "Versión de prueba del servidor local.",
        pub_date: "2026-11-28T12:00:00Z",
        platforms: { "linux-x86_64": entry, "linux-x86_64-deb": entry },
      }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => updates.listen(0, "127.0.0.1", r));
  const updateUrl = `http://127.0.0.1:${updates.address().port}/{{target}}/{{arch}}/{{current_version}}/latest.json`;
  const env = {
    ...process.env,
    ICC_UPDATE_URL: updateUrl,
    ICC_ICONSTRUYE_URL: fakeUrl,
    ICC_ICONSTRUYE_INTERVALO_MS: "0",
    ICC_KAME_URL: kameUrl,
    ICC_KAME_INTERVALO_MS: "0",
    ICC_DATA_DIR: path.join(work, "data"),
    XDG_DATA_HOME: path.join(work, "xdg-data"),
    XDG_CONFIG_HOME: path.join(work, "xdg-config"),
    XDG_CACHE_HOME: path.join(work, "xdg-cache"),
  };
  tauriDriver = spawn("tauri-driver", ["--port", "4444", "--native-driver", "/usr/bin/WebKitWebDriver"], {
    env,
    stdio: ["ignore", "inherit", "inherit"],
  });
  await new Promise((r) => setTimeout(r, 1500));
  const caps = { browserName: "wry", "tauri:options": { application: APP } };
  driver = await new Builder().usingServer("http://127.0.0.1:4444/").withCapabilities(caps).build();
});

after(async () => {
  if (driver) await driver.quit().catch(() => {});
  if (tauriDriver) tauriDriver.kill();
  if (fake) fake.kill();
  if (fakeKame) fakeKame.kill();
  // the app normally exits with its WebDriver session; if it lingers, its open connection
  // would keep the update server (and this test run) alive: end both
  killLeftoverApps();
  if (updates) {
    updates.closeAllConnections();
    updates.close();
  }
  // the app (or a WebKit helper of it) may still be writing its caches while it exits:
  // retry, and if one keeps writing, leave the temporary folder rather than fail a test
  // whose checks all passed
  if (work) {
    try {
      fs.rmSync(work, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
    } catch (e) {
      console.warn(`could not remove ${work}: ${e.message}`);
    }
  }
});

test("the whole invoice workflow in the real window", async () => {
  // first run: no default account, create the administrator
  await visible("#setup-user");
  await screenshot("primer-uso");
  await type("#setup-user", "admin");
  await type("#setup-password", "corta");
  await type("#setup-password2", "corta");
  await click("#setup-submit");
  await waitText("#setup-msg", /contraseña/i);
  await type("#setup-password", PASSWORD);
  await type("#setup-password2", PASSWORD);
  await click("#setup-submit");
  // the data folder is encrypted (the test runs with a real keyring): its recovery key is
  // shown once, in 14 groups of 4, before the app opens
  await waitText("#recovery-key", /^([0-9A-Z]{4}-){13}[0-9A-Z]{4}$/);
  await screenshot("clave-de-recuperacion");
  await click("#recovery-continue");
  await waitText("#list-count", /0 factura/);
  // the update server offers 99.0.0: the banner shows it with its notes
  await waitText("#update-offer", /99\.0\.0/);
  assert.match(await textOf("#update-notes"), /servidor local/);
  await screenshot("actualizacion-ofrecida");
  await click("#update-later");
  await screenshot("facturas-vacia");

  // import the SII purchase register: preview, then import
  const file = rcvFile(work);
  await click("#nav-importar");
  await type("#import-path", file);
  await click("#import-add");
  await click("#import-preview");
  await visible("#import-preview-table");
  const preview = await textOf("#import-preview-table");
  assert.match(preview, /Hormigones Andinos/);
  assert.match(preview, /\$1\.190\.000/);
  await screenshot("importar-vista-previa");
  await click("#import-commit");
  await waitText("#import-msg", /Importación terminada: 3 nuevas/);
  await screenshot("importar-resumen");

  // the list, its filters and the search box
  await click("#nav-facturas");
  await waitRows(3);
  await screenshot("facturas-lista");
  assert.match(await listText(), /76\.555\.835-2/);
  await type("#f-q", "ferreteria");
  await waitRows(1);
  assert.match(await listText(), /Ferretería Ñuñoa/);
  await screenshot("facturas-busqueda");
  await click("#f-clear");
  await waitRows(3);
  await click('#f-estado option[value="aprobada"]');
  await waitRows(0);
  await waitText("#invoice-list", /No hay facturas con estos filtros/);
  await click('#f-estado option[value=""]');
  await waitRows(3);

  // an obra, assigned to two invoices at once, and the panel that counts them
  await click("#nav-obras");
  await type("#obra-codigo", "OB-2026-001");
  await type("#obra-nombre", "Edificio Los Aromos");
  await click("#obra-submit");
  await waitText("#obras-table", /Edificio Los Aromos/);
  await click("#nav-facturas");
  await waitRows(3);
  await clickRow(0, "input[type=checkbox]");
  await waitText("#bulk-count", /1 seleccionada/);
  await clickRow(1, "input[type=checkbox]");
  await waitText("#bulk-count", /2 seleccionada/);
  await click("#bulk-assign");
  await type("#modal-obra", "OB-2026-001");
  await click("#modal-accept");
  await waitText("#list-msg", /2 factura\(s\) actualizadas/);
  await click("#nav-panel");
  await visible('#panel [data-id="obra-OB-2026-001"]');
  assert.match(await textOf("#panel"), /OB-2026-001 Edificio Los Aromos/);
  await screenshot("panel");
  await click('#panel [data-id="obra-OB-2026-001"] rect');
  await waitRows(2);
  assert.equal(await driver.findElement(By.css("#f-obra")).getAttribute("value"), "OB-2026-001");
  await click("#f-clear");
  await waitRows(3);

  // detail: approve one
  await clickRow(0, null, true);
  await visible("#detail");
  await waitText("#detail-estado", /Recibida/);
  await screenshot("detalle");
  // attach the invoice's PDF
  const pdf = path.join(work, "factura-5003.pdf");
  fs.writeFileSync(pdf, onePagePdf("Factura 5003 - Hormigones Andinos"));
  await type("#attach-path", pdf);
  await click("#attach-add");
  await waitText("#detail-attachments", /factura-5003\.pdf/);
  // shown inside the app, drawn by the bundled pdf.js
  await click(".view-attachment");
  await $("canvas.pdf-page");
  await waitText("#viewer-status", /1 página/);
  await screenshot("adjunto-en-la-app");
  await click("#viewer-close");
  await click("#detail-approve");
  await type("#modal-comentario", "Recepción conforme en obra");
  await click("#modal-accept");
  await waitText("#detail-estado", /Aprobada/);
  assert.match(await textOf("#detail-history"), /aprobada/);
  assert.match(await textOf("#detail-history"), /Recepción conforme en obra/);
  await screenshot("detalle-aprobada");
  // a partial payment: more than the balance is refused in place, then 1.000 is recorded
  assert.match(await textOf("#detail-payments"), /Sin pagos registrados/);
  await click("#detail-pay");
  await type("#modal-monto", "999.999.999.999");
  await click("#modal-accept");
  await waitText(".modal .msg-error", /supera el saldo/);
  await type("#modal-monto", "1.000");
  await type("#modal-referencia", "TRF-5003");
  await click("#modal-accept");
  await waitText("#detail-estado", /Parcialmente pagada/);
  assert.match(await textOf("#detail-payments-list"), /\$1\.000[\s\S]*transferencia[\s\S]*TRF-5003/);
  await screenshot("detalle-pago-parcial");
  await click("#detail-back");

  // reject another, with the required reason
  await waitRows(3);
  await clickRow(1, null, true);
  await visible("#detail");
  await click("#detail-reject");
  await click("#modal-accept");
  await driver.wait(async () => (await driver.findElements(By.css(".modal .msg-error"))).length === 1, TIMEOUT);
  await type("#modal-motivo", "Precio distinto a la orden de compra");
  await click("#modal-accept");
  await waitText("#detail-estado", /Rechazada/);
  await screenshot("detalle-rechazada");
  await click("#detail-back");
  await waitRows(3);

  // suppliers open their invoices
  await click("#nav-proveedores");
  await waitText("#suppliers-table", /Moldajes del Sur/);
  await type("#suppliers-q", "moldajes");
  await driver.wait(async () => (await driver.findElements(By.css("#suppliers-table tr.link"))).length === 1, TIMEOUT);
  await screenshot("proveedores");
  await click("#suppliers-table tr.link td");
  await waitRows(1);
  assert.match(await listText(), /Moldajes del Sur/);
  await click("#f-clear");
  await waitRows(3);

  // export just a selection
  await clickRow(0, "input[type=checkbox]");
  await click("#bulk-export-selected");
  await waitText("#export-filters", /solo las 1 facturas seleccionadas/);
  const chosen = path.join(work, "seleccion.csv");
  await type("#export-path", chosen);
  await click("#export-go");
  await waitText("#export-msg", /1 documento/);
  assert.equal(fs.readFileSync(chosen, "utf8").trim().split("\r\n").length, 2);
  await click("#nav-facturas");
  await waitRows(3);

  // export the list and read the files back
  await click("#nav-exportar");
  const xlsx = path.join(work, "facturas.xlsx");
  await type("#export-path", xlsx);
  await click("#export-go");
  await waitText("#export-msg", /Informe guardado .*3 documento/);
  await screenshot("exportar");
  const bytes = fs.readFileSync(xlsx);
  assert.equal(bytes.subarray(0, 2).toString(), "PK", "an xlsx is a zip");
  const csv = path.join(work, "facturas.csv");
  await type("#export-path", csv);
  await click("#export-go");
  await waitText("#export-msg", new RegExp(`guardado en ${csv.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}`));
  const text = fs.readFileSync(csv, "utf8");
  assert.ok(text.startsWith("\ufeff"), "UTF-8 with BOM");
  const lines = text.trim().split("\r\n");
  assert.equal(lines.length, 4);
  assert.match(text, /5001;76\.555\.835-2;Hormigones Andinos SpA/);
  assert.match(text, /;parcialmente pagada;/);
  assert.match(text, /;rechazada;/);

  // lock on demand, unlock with the password
  await click("#lock-now");
  await visible("#lock-screen");
  await screenshot("bloqueo");
  await type("#unlock-password", "otra cosa");
  await click("#unlock-submit");
  await waitText("#unlock-msg", /incorrectos/);
  await type("#unlock-password", PASSWORD);
  await click("#unlock-submit");
  await visible("#nav-facturas");
  await click("#nav-diagnostico");
  await waitText("#doctor-checks", /✔/);
  await waitText("#update-source", /definido por TI/);
  await click("#backup-create");
  await waitText("#backup-msg", /creado y verificado/);
  await driver.wait(async () => (await driver.findElements(By.css("#backups-table tr"))).length >= 2, TIMEOUT);
  await screenshot("diagnostico");

  // iConstruye: the key is pasted once, stored in the OS keyring and never shown again
  await type("#cred-iconstruye-facturas", FAKE_KEY);
  await click("#cred-save-iconstruye-facturas");
  await waitText("#iconstruye-msg", /Clave guardada en el llavero/);
  await waitText("#cred-state-iconstruye-facturas", /✔ guardada/);
  assert.equal(await (await $("#cred-iconstruye-facturas")).getAttribute("value"), "");
  const page = await driver.getPageSource();
  assert.ok(!page.includes(FAKE_KEY), "the key is not on screen");
  await screenshot("configuracion-iconstruye");
  // then the pull, with a progress bar, and its summary with the refused rows
  await click("#nav-importar");
  await waitText("#pull-last", /Aún no se ha descargado/);
  // dates in the Chilean order whatever the system's locale
  for (const id of ["#pull-desde", "#pull-hasta"]) {
    assert.match(await (await $(id)).getAttribute("value"), /^\d{2}-\d{2}-\d{4}$/);
  }
  await click("#pull-go");
  const summary = await waitText("#pull-summary", /\d+ nuevos/);
  assert.match(summary, /60 nuevos, 0 actualizados, 0 sin cambios, 3 rechazados/);
  assert.equal((await driver.findElements(By.css("#pull-errors tbody tr"))).length, 3);
  await waitText("#pull-last", /Última descarga completa hasta el/);
  await screenshot("iconstruye");
  await click("#nav-facturas");
  await driver.wait(async () => (await rows()).length > 3, TIMEOUT, "pulled invoices listed");
});

// Runs after the workflow above, in the same window: invoice 5003 (Moldajes del Sur) is
// partly paid and approved, its balance due 29-12-2026.
test("the Friday payment run across three people in the real window", async () => {
  try {
    await paymentRun();
  } catch (e) {
    await screenshot("fallo-pagos").catch(() => {});
    throw e;
  }
});

async function paymentRun() {
  const OTHER = "Caseta-Grua-Hormigon-2026";
  async function signInAs(user, password) {
    await click("#logout");
    await type("#login-user", user);
    await type("#login-password", password);
    await click("#login-submit");
    await visible("#nav-facturas");
  }
  // the admin creates the accountant and the manager
  await click("#nav-usuarios");
  for (const [name, role] of [["contadora", "contabilidad"], ["gerente", "gerente"]]) {
    await type("#user-name", name);
    await click(`#user-role option[value="${role}"]`);
    await type("#user-password", `${OTHER}\uE007`); // Enter submits the form
    await waitText("#users-table", new RegExp(name));
  }

  // the accountant enters the supplier's account and prepares the run
  await signInAs("contadora", OTHER);
  await click("#nav-cuentas");
  await type("#acc-rut", "96.874.030-K");
  await type("#acc-banco", "Banco Santander");
  await type("#acc-numero", "0-071-23456-7");
  await type("#acc-titular", "Moldajes del Sur S.A.");
  await type("#acc-email", "pagos@moldajes.cl");
  await click("#acc-submit");
  await waitText("#cuentas-msg", /pendiente hasta que otra persona la apruebe/);
  assert.equal((await driver.findElements(By.css(".approve-account"))).length, 0, "not approvable by who entered it");
  await click("#nav-pagos");
  await type("#run-corte", "31-12-2026");
  await click("#run-new");
  await waitText("#pagos-msg", /Nómina N° 1 preparada/);
  const ours = '#run-lines tr[data-doc="96874030-K:33:5003"]';
  assert.match(await textOf(ours), /Moldajes del Sur[\s\S]*\$498\.800/);
  // this week only Moldajes del Sur: every other line is left out. Each change redraws the
  // table when the app answers; a click that lands on a row being replaced is lost (the
  // row shows what is stored), so it is tried again until none is left or time runs out.
  const othersChecked = '#run-lines tr[data-doc]:not([data-doc="96874030-K:33:5003"]) input:checked';
  const until = Date.now() + 3 * TIMEOUT;
  for (;;) {
    const others = await driver.findElements(By.css(othersChecked));
    if (!others.length) break;
    assert.ok(Date.now() < until, `${others.length} other lines still in the run`);
    try {
      await others[0].click();
      await driver
        .wait(async () => (await driver.findElements(By.css(othersChecked))).length < others.length, 3000)
        .catch(() => {});
    } catch (e) {
      if (e.name !== "StaleElementReferenceError") throw e;
    }
  }
  await waitText("#run-title", /\$498\.800$/);
  await screenshot("nomina-borrador");
  assert.equal((await driver.findElements(By.css("#run-approve"))).length, 0, "contabilidad does not approve runs");

  // the admin approves the account (a second person)
  await signInAs("admin", PASSWORD);
  await click("#nav-cuentas");
  await click(".approve-account");
  await click("#modal-accept");
  await waitText("#cuentas-msg", /Cuenta aprobada/);
  await waitText("#accounts-table", /aprobada/);
  await screenshot("cuenta-aprobada");

  // the manager approves the run, writes the bank file and marks it paid
  await signInAs("gerente", OTHER);
  await click("#nav-pagos");
  await click('#runs-table tr[data-run="1"] td');
  await click("#run-approve");
  await click("#modal-accept");
  await waitText("#run-title", /aprobada/);
  const bank = path.join(work, "nomina-1.xlsx");
  await type("#bank-path", bank);
  await click("#bank-file");
  await waitText("#pagos-msg", /Archivo del banco guardado/);
  assert.ok(fs.statSync(bank).size > 1000, "the bank file was written");
  await screenshot("nomina-aprobada");
  await click("#run-paid");
  await click("#modal-accept");
  await waitText("#run-title", /pagada/);
  await screenshot("nomina-pagada");
  const report = path.join(work, "nomina-1-informe.xlsx");
  await type("#report-path", report);
  await click("#run-report");
  await waitText("#pagos-msg", /Informe guardado/);
  assert.ok(fs.statSync(report).size > 1000, "the run's report was written");
  await click("#nav-facturas");
  await type("#f-q", "moldajes");
  // the search redraws the list: click only once it shows the one match, or the click
  // lands on a row of the unfiltered list that the redraw removes
  await driver.wait(
    async () => (await rows()).length === 1 && /Moldajes/.test(await listText()),
    TIMEOUT,
    "the list filtered to Moldajes",
  );
  await clickRow(0, null, true);
  await waitText("#detail-estado", /^Pagada$/);
  assert.match(await textOf("#detail-payments-list"), /Nómina N° 1/);
}

// Runs after the payment run, in the same window: the administrator posts the period's
// invoices to the fake Kame; a second run sends nothing.
test("posting to Kame from the Contabilidad screen", async () => {
  try {
    await kamePosting();
  } catch (e) {
    await screenshot("fallo-kame").catch(() => {});
    throw e;
  }
});

async function kamePosting() {
  await click("#logout");
  await type("#login-user", "admin");
  await type("#login-password", PASSWORD);
  await click("#login-submit");
  await click("#nav-contabilidad");
  await waitText("#kame-status", /Falta el secreto/);
  await type("#kame-client-id", KAME_ID);
  await type("#kame-usuario", "contabilidad@icc.cl");
  await type("#kame-secret", KAME_SECRET);
  await click("#kame-settings-save");
  await waitText("#kame-status", /secreto está guardado/);
  assert.equal(await (await $("#kame-secret")).getAttribute("value"), "");
  assert.ok(!(await driver.getPageSource()).includes(KAME_SECRET), "the secret is not on screen");
  for (const [id, v] of [
    ["#plantilla-concepto", "MATERIALES"],
    ["#plantilla-neto", "5101001"],
    ["#plantilla-iva", "1109001"],
    ["#plantilla-proveedor", "2101001"],
  ]) {
    await type(id, v);
  }
  await click("#plantilla-save");
  await waitText("#kame-plantillas", /MATERIALES/);
  for (const rut of ["76.555.835-2", "76.177.907-9"]) {
    await type("#concepto-rut", rut);
    await type("#concepto-nombre", "MATERIALES");
    await click("#concepto-save");
    await waitText("#kame-msg", new RegExp(`Concepto de ${rut.replace(/\./g, "\\.")}: MATERIALES`));
  }
  // a centro de gestión's unidad de negocio, kept by its first 4 characters
  await type("#unidad-centro", "CC-NORTE");
  await type("#unidad-nombre", "UN-NORTE");
  await click("#unidad-save");
  await waitText("#kame-unidades", /CC-N\s*UN-NORTE/);
  // and the message says the centro as it was stored
  await waitText("#kame-msg", /Centro CC-N: unidad de negocio UN-NORTE\./);
  // the third supplier from the invoice list: its invoice is «sin cuenta» until then
  await click("#nav-facturas");
  await type("#f-q", "moldajes");
  await driver.wait(
    async () => (await rows()).length === 1 && /Moldajes[\s\S]*sin cuenta/.test(await listText()),
    TIMEOUT,
    "Moldajes listed «sin cuenta»",
  );
  await clickRow(0, "input[type=checkbox]");
  await waitText("#bulk-count", /^1 seleccionada/);
  await click("#bulk-concepto");
  await type("#modal-concepto", "MATERIALES");
  await click("#modal-accept");
  await waitText("#list-msg", /Concepto «MATERIALES» asignado a 1 proveedor\(es\) de las 1 factura\(s\)/);
  await driver.wait(
    async () => (await rows()).length === 1 && !/sin cuenta/.test(await listText()),
    TIMEOUT,
    "Moldajes no longer «sin cuenta»",
  );
  await click("#nav-contabilidad");
  await click("#kame-post");
  await click("#confirm-accept");
  const first = await waitText("#kame-summary", /contabilizadas/);
  const m = /^(\d+) contabilizadas, 0 ya estaban, (\d+) rechazadas, 0 pendientes/.exec(first);
  assert.ok(m && Number(m[1]) >= 2, first);
  // the pulled iConstruye invoices have no concepto: listed with the reason
  await waitText("#kame-results", /sin cuenta/);
  await waitText("#kame-envios", /contabilizada/);
  await screenshot("contabilidad");
  await click("#kame-post");
  await click("#confirm-accept");
  await waitText("#kame-summary", new RegExp(`^0 contabilizadas, ${m[1]} ya estaban`));
  // the invoice's detail says where it stands in Kame
  await click("#nav-facturas");
  await type("#f-q", "moldajes");
  await driver.wait(
    async () => (await rows()).length === 1 && /Moldajes/.test(await listText()),
    TIMEOUT,
    "the list filtered to Moldajes",
  );
  await clickRow(0, null, true);
  await waitText("#detail-kame", /Kame: contabilizada \(comprobante \d+\)/);
}

/** `dd-mm-aaaa` of today plus `days`. */
function chileanDay(days) {
  const x = new Date(Date.now() + days * 86400000);
  return `${String(x.getDate()).padStart(2, "0")}-${String(x.getMonth() + 1).padStart(2, "0")}-${x.getFullYear()}`;
}

/** Waits until the canvas has a chart drawn on it: Chart.js done and pixels painted. */
async function chartDrawn(css) {
  const painted = () =>
    driver.executeScript(
      `const c = document.querySelector(arguments[0]);
       if (!c || !c.dataset.drawn) return 0;
       const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
       let n = 0;
       for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
       return n;`,
      css,
    );
  await driver.wait(async () => (await painted()) > 500, TIMEOUT, `${css} has a chart drawn`);
}

test("an obra's budget grid and the treasury, with their charts", async () => {
  try {
    await budgetsAndTreasury();
  } catch (e) {
    await screenshot("fallo-presupuesto").catch(() => {});
    throw e;
  }
});

async function budgetsAndTreasury() {
  await click("#nav-presupuesto");
  // the base catalogue, then the obra's period and two lines
  await click("#catalogo-base");
  await waitText("#catalogo", /Estados de pago/);
  await click("#nav-facturas");
  await click("#nav-presupuesto");
  await waitText("#presupuesto-sin-periodo", /Fije el período/);
  await type("#periodo-desde", chileanDay(-28));
  await type("#periodo-hasta", chileanDay(56));
  await click("#periodo-save");
  await visible("#presupuesto-grid");
  await type("#linea-inicial", "50.000.000");
  await click("#linea-add");
  await waitText("#presupuesto-msg", /Partida agregada/);
  await type("#linea-inicial", "1.000.000");
  await click("#linea-add");
  await waitText("#presupuesto-grid", /Obras preliminares/);
  // the week plan of the income line, then a modification with its reason
  await click("#linea-0");
  const first = await visible("#semanas-form input");
  await first.clear();
  await first.sendKeys("30.000.000");
  await click("#semanas-save");
  await waitText("#presupuesto-msg", /Semanas guardadas/);
  await click("#linea-0");
  await type("#modif-monto", "2.000.000");
  await type("#modif-motivo", "Aumento de obra");
  await click("#modif-save");
  await waitText("#presupuesto-msg", /Modificación registrada/);
  await click("#linea-0");
  await waitText("#modificaciones", /Aumento de obra/);
  // the obra's invoices have no cuenta: their spend is on its own line
  const grid = await textOf("#presupuesto-grid");
  assert.match(grid, /Estados de pago/);
  assert.match(grid, /\$52\.000\.000/, "vigente = inicial + modificación");
  assert.match(grid, /Sin partida/);
  assert.match(grid, /TOTAL/);
  await chartDrawn("#presupuesto-chart");
  await screenshot("presupuesto");

  // the treasury: an account, an expense that overdraws it the week after, a loan
  await click("#nav-tesoreria");
  await visible("#tesoreria-grid");
  await type("#banco-nombre", "Santander cta. cte.");
  await type("#banco-saldo", "1.000.000");
  // (from next week: this week holds the payment run the manager paid above)
  await type("#banco-semana", chileanDay(7));
  await click("#banco-save");
  await waitText("#tesoreria-msg", /Cuenta guardada/);
  await type("#fila-concepto", "Arriendo oficina");
  await click('#fila-tipo option[value="egreso"]');
  await type("#fila-semana", chileanDay(14));
  await type("#fila-monto", "1.500.000");
  await click("#fila-save");
  await waitText("#tesoreria-msg", /Fila guardada/);
  const saldo = await waitText("#tesoreria-saldo", /-\$500\.000/);
  assert.match(saldo, /\$1\.000\.000/);
  assert.ok((await driver.findElements(By.css("#tesoreria-saldo td.neg"))).length >= 2, "overdrawn weeks are red and carried");
  await type("#prestamo-banco", "Banco de Chile");
  await type("#prestamo-descripcion", "Capital de trabajo");
  await type("#prestamo-monto", "1.000.000");
  await type("#prestamo-total", "1.200.000");
  await type("#prestamo-cuotas", "6");
  await type("#prestamo-primera", chileanDay(10));
  await click("#prestamo-save");
  await waitText("#prestamo-0-estado", /0 de 6 cuotas pagadas/);
  await click("#prestamo-0-pagar");
  await click("#confirm-accept");
  await waitText("#prestamo-0-estado", /1 de 6 cuotas pagadas; por pagar \$1\.000\.000\. Próxima: cuota 2/);
  await chartDrawn("#tesoreria-chart");
  await screenshot("tesoreria");
}

test("a sheet naming obras that do not exist: imported without obra, then «Crear obras» assigns them", async () => {
  try {
    await unknownObras();
  } catch (e) {
    await screenshot("fallo-crear-obras").catch(() => {});
    throw e;
  }
});

async function unknownObras() {
  // a spreadsheet export (generic columns): three invoices, naming two obras nobody created
  const day = chileanDay(-3).replace(/-/g, "/");
  const file = path.join(work, "facturas-obras-nuevas.csv");
  const lines = [
    "RUT Proveedor;Razón social;Tipo Doc;Folio;Fecha emisión;Monto Neto;IVA;Monto Total;Obra",
    `76555835-2;Hormigones Andinos SpA;33;88001;${day};100.000;19.000;119.000;OB-NORTE`,
    `76177907-9;Ferretería Ñuñoa Ltda.;33;88002;${day};200.000;38.000;238.000;OB-NORTE`,
    `96874030-K;Moldajes del Sur S.A.;33;88003;${day};300.000;57.000;357.000;OB-SUR`,
  ];
  fs.writeFileSync(file, lines.join("\r\n") + "\r\n");
  await click("#nav-importar");
  await type("#import-path", file);
  await click("#import-add");
  await click("#import-preview");
  await waitText("#import-unknown-obras", /Obras que no existen: OB-NORTE, OB-SUR/);
  assert.match(await textOf("#import-warnings"), /la obra «OB-NORTE» no existe: la factura se importará sin obra/);
  await screenshot("importar-obras-nuevas");
  // imported as they are: no invoice is lost, they wait without obra
  await click("#import-commit");
  await waitText("#import-msg", /Importación terminada: 3 nuevas/);
  await waitText("#import-unknown-obras", /OB-NORTE, OB-SUR/);
  await click("#import-create-obras");
  // created, and the invoices already stored get the obra their row names; said after the
  // import ran again (which clears the message when it starts)
  await waitText(
    "#import-msg",
    /Obras creadas: OB-NORTE, OB-SUR\. Importación terminada: 0 nuevas, 0 actualizadas, 3 ya existían, 0 rechazadas\. 3 facturas ya guardadas quedaron asignadas a su obra\./,
  );
  assert.equal((await driver.findElements(By.css("#import-unknown-obras"))).length, 0);
  // another file on the same screen: its unknown obra is created only if the user asks again
  const other = path.join(work, "facturas-obra-oeste.csv");
  fs.writeFileSync(other, [lines[0], `76555835-2;Hormigones Andinos SpA;33;88004;${day};100.000;19.000;119.000;OB-OESTE`].join("\r\n") + "\r\n");
  await click("#import-files button");
  await type("#import-path", other);
  await click("#import-add");
  await click("#import-commit");
  await waitText("#import-msg", /Importación terminada: 1 nuevas/);
  await waitText("#import-unknown-obras", /Obras que no existen: OB-OESTE/);
  assert.match(await textOf("#import-warnings"), /la obra «OB-OESTE» no existe: la factura se importó sin obra/);
  // each invoice has the obra its row names
  // (the list keeps the filters of the last visit: cleared first)
  await click("#nav-facturas");
  await click("#f-clear");
  await click('#f-obra option[value="OB-NORTE"]');
  await driver.wait(
    async () => {
      const text = await listText();
      return (await rows()).length === 2 && /88001[\s\S]*OB-NORTE/.test(text) && /88002[\s\S]*OB-NORTE/.test(text);
    },
    TIMEOUT,
    "the two OB-NORTE invoices",
  );
  await click('#f-obra option[value="OB-SUR"]');
  await driver.wait(
    async () => (await rows()).length === 1 && /88003Moldajes del Sur[\s\S]*OB-SUR/.test(await listText()),
    TIMEOUT,
    "the OB-SUR invoice",
  );
  await screenshot("facturas-obra-creada");
  await click("#f-clear");
}
