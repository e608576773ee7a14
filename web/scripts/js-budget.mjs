// Prints the JavaScript a first page load fetches, gzipped, and fails the
// build above the budget (issue: at most 100 KB). The bundle is one file
// (vite.config.ts), so every page's first load is every script in dist/.
import { readdirSync, readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const BUDGET = 100 * 1024;
const dir = new URL("../dist/assets/", import.meta.url);
let total = 0;
for (const name of readdirSync(dir)) {
  if (!name.endsWith(".js")) continue;
  const gz = gzipSync(readFileSync(new URL(name, dir)), { level: 9 }).length;
  total += gz;
  console.log(`js-budget: ${name} ${(gz / 1024).toFixed(1)} KB gzipped`);
}
console.log(`js-budget: ${(total / 1024).toFixed(1)} KB of ${BUDGET / 1024} KB`);
if (total > BUDGET) {
  console.error("js-budget: over budget");
  process.exit(1);
}
