// Desktop benchmark (not a test): the release app on a database of ICC_BENCH_INVOICES seeded
// invoices, driven over WebDriver in a virtual display. Measures start to the login form,
// login to the first page of data, IPC latency of list pages as the list scrolls, and idle
// RSS of the app with its WebKit processes. Prints a Markdown section on stdout.
// Run by `scripts/bench desktop`.

import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import { Builder, By, until } from "selenium-webdriver";

const APP = process.env.ICC_BENCH_APP;
const USER = "bench";
const PASSWORD = process.env.ICC_BENCH_PASSWORD;
const N = Number(process.env.ICC_BENCH_INVOICES ?? "1000000");
const PAGES = 200;

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.round((s.length - 1) * p))];
};

function rssKb(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) : 0;
}

// RSS split into anonymous memory (heaps, caches) and file-backed pages (mapped libraries)
function rssSplitKb(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { anon: kb("RssAnon"), file: kb("RssFile") + kb("RssShmem") };
}

function pssKb(pid) {
  try {
    const m = /Pss:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function descendants(pid) {
  const out = [];
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = fs.readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(st.slice(st.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(d), ...descendants(Number(d)));
    } catch {
      /* gone */
    }
  }
  return out;
}

const driverProc = spawn("tauri-driver", ["--port", "4444", "--native-driver", "/usr/bin/WebKitWebDriver"], {
  stdio: ["ignore", "ignore", "inherit"],
});
await new Promise((r) => setTimeout(r, 1500));
let driver;
try {
  const t0 = performance.now();
  driver = await new Builder()
    .usingServer("http://127.0.0.1:4444/")
    .withCapabilities({ browserName: "wry", "tauri:options": { application: APP } })
    .build();
  await driver.wait(until.elementLocated(By.css("#login-user")), 60_000);
  const tLogin = performance.now() - t0;
  await driver.findElement(By.css("#login-user")).sendKeys(USER);
  await driver.findElement(By.css("#login-password")).sendKeys(PASSWORD);
  const t1 = performance.now();
  await driver.findElement(By.css("#login-submit")).click();
  await driver.wait(until.elementLocated(By.css("#invoice-list .row")), 60_000);
  const tFirst = performance.now() - t1;

  // idle memory with the first page on screen, before the measurements below load more
  await new Promise((r) => setTimeout(r, 5000));
  const pid = Number(execFileSync("pgrep", ["-n", "-f", APP]).toString().trim().split("\n")[0]);
  const own = rssKb(pid);
  const split = rssSplitKb(pid);
  const all = own + descendants(pid).reduce((s, p) => s + rssKb(p), 0);
  const pss = pssKb(pid) + descendants(pid).reduce((s, p) => s + pssKb(p), 0);

  // list pages through IPC, as scrolling fetches them: 200 rows each, cursor after cursor
  const samples = await driver.executeAsyncScript(
    `const done = arguments[arguments.length - 1];
     (async () => {
       const inv = window.__TAURI_INTERNALS__.invoke;
       const filter = { obra: null, estado: null, proveedor: null, desde: null, hasta: null, vencidas: false, plazo_por_vencer: null, q: null };
       let cursor = null; const ms = [];
       for (let i = 0; i < ${PAGES}; i++) {
         const t = performance.now();
         const p = await inv("list_invoices", { filter, limit: 100, cursor });
         ms.push(performance.now() - t);
         cursor = p.next_cursor;
         if (!cursor) break;
       }
       done(ms);
     })().catch((e) => done(String(e)));`,
  );
  if (!Array.isArray(samples)) throw new Error(`IPC pages failed: ${samples}`);

  // scroll the real list through 100 screens and time each frame of drawing
  const scroll = await driver.executeAsyncScript(
    `const done = arguments[arguments.length - 1];
     const vp = document.getElementById("invoice-list");
     const ms = []; let i = 0;
     const step = () => {
       const t = performance.now();
       vp.scrollTop += vp.clientHeight;
       vp.dispatchEvent(new Event("scroll"));
       ms.push(performance.now() - t);
       if (++i < 100) requestAnimationFrame(step); else done(ms);
     };
     requestAnimationFrame(step);`,
  );

  // baseline in the same display: the smallest WebKitGTK window (GTK + one WebView), whose
  // libraries the app's process maps too
  const minimal = execFileSync(process.env.ICC_BENCH_MINIMAL).toString();
  const minKb = (k) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(minimal)?.[1] ?? NaN);
  const minRss = minKb("VmRSS");
  // and a Tauri app with nothing in it (ui/bench/hello-tauri), measured like the app
  const hello = spawn(process.env.ICC_BENCH_HELLO, [], { stdio: "ignore" });
  await new Promise((r) => setTimeout(r, 6000));
  const helloRss = rssKb(hello.pid);
  const helloSplit = rssSplitKb(hello.pid);
  hello.kill();

  const fmt = (x) => x.toFixed(1);
  const yes = (ok) => (ok ? "yes" : "**no**");
  const deb = process.env.ICC_BENCH_DEB;
  const debSize = deb && fs.existsSync(deb) ? fs.statSync(deb).size : null;
  const lines = [
    "## Desktop: release app on a seeded database",
    "",
    `Run ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on {{machine}}.`,
    "",
    `${N.toLocaleString("en")} seeded invoices; the release binary in Xvfb (software rendering) driven through tauri-driver and WebKitWebDriver (WebDriver adds its own overhead to the start figures). The app opens on the invoice list. IPC pages: \`list_invoices\` called from the page as the list does when it scrolls, ${samples.length} consecutive keyset pages of 100 rows (the list's page size). Scroll frames: the list scrolled a screen at a time, 100 times, each frame's handler timed. Idle RSS: 5 s after the first page showed, the app and its WebKit processes (PSS would split shared libraries; RSS counts them in every process). Baseline in the same display: the smallest WebKitGTK window (\`ui/bench/minimal_webkit.c\`: GTK and one WebView showing a line of HTML, in C, no app), and a Tauri app with nothing in it (\`ui/bench/hello-tauri\`: the same Tauri version and release profile, one window showing a line of HTML), started directly and measured 6 s after launch.`,
    "",
    "| measure | value | goal | met |",
    "|---|---:|---|:---:|",
    `| start to login form | ${fmt(tLogin)} ms | | |`,
    `| login to first page of invoices (argon2id login, list) | ${fmt(tFirst)} ms | | |`,
    `| start to first page (sum, without typing) | ${fmt(tLogin + tFirst)} ms | < 1 s | ${yes(tLogin + tFirst < 1000)} |`,
    `| IPC page of 100 rows, p50 / p95 | ${fmt(pct(samples, 0.5))} / ${fmt(pct(samples, 0.95))} ms | p95 < 16 ms | ${yes(pct(samples, 0.95) < 16)} |`,
    `| scroll frame (redraw of visible rows), p50 / p95 | ${fmt(pct(scroll, 0.5))} / ${fmt(pct(scroll, 0.95))} ms | | |`,
    `| idle RSS, app process / with WebKit processes | ${Math.round(own / 1024)} / ${Math.round(all / 1024)} MB | < 150 MB (app process) | ${yes(own < 150 * 1024)} |`,
    `| idle RSS of the app process: anonymous / file-backed (libraries and the binary) | ${Math.round(split.anon / 1024)} / ${Math.round(split.file / 1024)} MB | | |`,
    `| baseline: idle RSS of the smallest WebKitGTK window (GTK + one WebView, no app): total / anonymous / file-backed | ${Math.round(minRss / 1024)} / ${Math.round(minKb("RssAnon") / 1024)} / ${Math.round(minKb("RssFile") / 1024)} MB | | |`,
    `| baseline: idle RSS of a Tauri app with nothing in it (same Tauri, same profile): total / anonymous / file-backed | ${Math.round(helloRss / 1024)} / ${Math.round(helloSplit.anon / 1024)} / ${Math.round(helloSplit.file / 1024)} MB | | |`,
    `| app process RSS ÷ smallest WebKitGTK window / ÷ empty Tauri app | ${(own / minRss).toFixed(2)}× (+${Math.round((own - minRss) / 1024)} MB) / ${(own / helloRss).toFixed(2)}× (+${Math.round((own - helloRss) / 1024)} MB) | | |`,
    `| idle PSS, app with WebKit processes (shared pages split) | ${Math.round(pss / 1024)} MB | | |`,
    `| .deb size | ${debSize === null ? "not built" : `${(debSize / 1024 / 1024).toFixed(1)} MB`} | | |`,
    "",
  ];
  process.stdout.write(lines.join("\n"));
} finally {
  if (driver) await driver.quit().catch(() => {});
  driverProc.kill();
}
