// The web UI in a real browser: a list of named steps run in order on one
// page (so a login in one step holds in the next), each logged with its
// duration. Run by tests/api/tests/suite/browser.rs (`cargo test`), which
// starts the app and sets:
//
//   BASE_URL        the app, e.g. http://127.0.0.1:41234
//   ADMIN_EMAIL     an administrator that can log in
//   ADMIN_PASSWORD  its password
//   SCREENSHOT_DIR  where shoot() writes (default ../target/ui-screenshots)
//   CHROMIUM        the browser (default /usr/bin/chromium)
//
// By hand, against an app from scripts/up.sh:
//   BASE_URL=http://127.0.0.1:3000 ADMIN_EMAIL=admin@example.com \
//   ADMIN_PASSWORD="$(cat ../.spin/admin-password)" node tests/e2e.mjs
//
// A step fails when its body throws, and also when, during it, the page
// logged a console error, threw an uncaught error, or got a response with a
// status of 500 or more. The browser's own "Failed to load resource: … 4xx"
// messages for /api/ requests do not count (a 401 or 422 is an answer the UI
// handles); for anything else (an asset, a page) they do. A step that
// provokes another console error on purpose says so with
// allowConsoleErrors(/the message/).
//
// Helpers: url(path), expectHeading(page, level?), checkAccessibility(page,
// name), shoot(page, name), allowConsoleErrors(regexp).
import { chromium } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

const BASE_URL = process.env.BASE_URL;
const ADMIN_EMAIL = process.env.ADMIN_EMAIL;
const ADMIN_PASSWORD = process.env.ADMIN_PASSWORD;
const SCREENSHOT_DIR =
  process.env.SCREENSHOT_DIR ??
  path.join(path.dirname(fileURLToPath(import.meta.url)), "../../target/ui-screenshots");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/** An absolute URL of the app for `path` ("/customers"). */
function url(path) {
  return new URL(path, BASE_URL).href;
}

/** Waits for a visible heading of `level` (default 1) and returns its text. */
async function expectHeading(page, level = 1) {
  const heading = page.getByRole("heading", { level }).first();
  await heading.waitFor({ state: "visible" });
  return (await heading.textContent()).trim();
}

/**
 * Runs axe-core in the page; fails on any violation of impact serious or
 * critical, listing each rule, its help and the offending nodes.
 * Moderate and minor ones are printed only.
 */
async function checkAccessibility(page, name) {
  // Evaluated through the DevTools protocol, which the page's CSP does not
  // govern (a <script> tag would be an inline script, which it forbids).
  if (!(await page.evaluate(() => typeof window.axe === "object"))) {
    await page.evaluate(AXE_SOURCE);
  }
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      helpUrl: v.helpUrl,
      targets: v.nodes.map((n) => n.target.join(" ")),
    }));
  });
  const describe = (v) =>
    `  [${v.impact}] ${v.id}: ${v.help} (${v.helpUrl})\n` +
    v.targets.map((t) => `      at ${t}`).join("\n");
  const blocking = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  const other = violations.filter((v) => !blocking.includes(v));
  if (other.length) {
    log(`  accessibility (${name}): ${other.length} minor/moderate\n${other.map(describe).join("\n")}`);
  }
  if (blocking.length) {
    throw new Error(
      `accessibility (${name}): ${blocking.length} serious/critical violation(s)\n` +
        blocking.map(describe).join("\n"),
    );
  }
  log(`  accessibility (${name}): no serious or critical violations`);
}

/**
 * Full-page screenshots `<SCREENSHOT_DIR>/<name>-desktop.png` (1280×800) and
 * `<name>-phone.png` (390×844); leaves the page at the desktop size.
 */
async function shoot(page, name) {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  for (const [size, viewport] of [["desktop", DESKTOP], ["phone", PHONE]]) {
    await page.setViewportSize(viewport);
    await settle(page);
    // Usable at a phone's width: nothing wider than the screen (a wide
    // table scrolls in its own box instead).
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 0) throw new Error(`${name}: the page is ${overflow}px wider than a ${viewport.width}px screen`);
    const file = path.join(SCREENSHOT_DIR, `${name}-${size}.png`);
    await page.screenshot({ path: file, fullPage: true, animations: "disabled" });
  }
  await page.setViewportSize(DESKTOP);
  await settle(page);
  log(`  screenshots: ${path.join(SCREENSHOT_DIR, name)}-{desktop,phone}.png`);
}

/** Console errors matching `pattern` do not fail the current step. */
function allowConsoleErrors(pattern) {
  allowed.push(pattern);
}

// Two frames: the layout after a resize.
async function settle(page) {
  await page.evaluate(
    () => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))),
  );
}

// ---------------------------------------------------------------------------
// The steps, in order. Each is [name, async (page) => { ... }].

// What a new user does, in order: the pages as a visitor, registering
// (and the errors a form shows), customers, products, a promotion with a
// discount, a stale edit, submitting; then an administrator who approves it
// and reads its history and the audit trail; logging out.
const RUN = Date.now().toString(36);
const ana = { first: "Ana", last: "Lima", email: `ana-${RUN}@example.com`, password: "ana's long password" };
const customerName = `Ducks ${RUN}`;
const productName = `Rubber duck ${RUN}`;
const promotionName = `Spring ${RUN}`;
const state = {};

/** Waits for `text` to be visible somewhere on the page. */
async function expectText(page, text) {
  await page.getByText(text, { exact: false }).first().waitFor({ state: "visible" });
}

/** Waits until the page's path (and query) is `path`, or matches it. */
async function expectPath(page, path) {
  await page.waitForURL((u) => (typeof path === "string" ? u.pathname + u.search === path : path.test(u.pathname + u.search)));
}

const button = (page, name) => page.getByRole("button", { name, exact: true });
const field = (page, label) => page.getByLabel(label, { exact: true });

/** Types into a search-as-you-type picker and picks the option naming `text`. */
async function pick(page, label, text) {
  const box = page.getByRole("combobox", { name: label, exact: true });
  await box.fill(text);
  await page.getByRole("option", { name: new RegExp(text) }).first().click();
  await page.locator(`[id="${await box.getAttribute("id")}-help"]`).getByText("Chosen.").waitFor();
}

async function status(page) {
  return (await page.getByTestId("status").textContent()).trim();
}

async function waitForStatus(page, wanted) {
  await page.getByTestId("status").getByText(wanted, { exact: true }).waitFor();
}

const steps = [
  [
    "the landing page",
    async (page) => {
      const response = await page.goto(url("/"));
      expectStatus(response, 200);
      log(`  h1: ${await expectHeading(page, 1)}`);
      await checkAccessibility(page, "landing");
      await shoot(page, "landing");
    },
  ],
  [
    "an unknown path is the app's own page",
    async (page) => {
      const response = await page.goto(url("/no/such/page"));
      expectStatus(response, 200);
      if ((await expectHeading(page, 1)) !== "Page not found") throw new Error("no 'Page not found' heading");
      await checkAccessibility(page, "not-found");
      await shoot(page, "not-found");
    },
  ],
  [
    "a page that needs a session sends a visitor to the login",
    async (page) => {
      await page.goto(url("/customers"));
      await expectPath(page, "/login?next=%2Fcustomers");
      if ((await expectHeading(page)) !== "Log in") throw new Error("not the login page");
      await checkAccessibility(page, "login");
      await shoot(page, "login");
    },
  ],
  [
    "registering: the server's errors beside their fields",
    async (page) => {
      await page.getByRole("link", { name: "Create one" }).click();
      await expectPath(page, "/register");
      await checkAccessibility(page, "register");
      await shoot(page, "register");
      await field(page, "First name").fill(ana.first);
      await field(page, "Last name").fill(ana.last);
      await field(page, "Email").fill("not an address");
      await field(page, "Password").fill("short");
      await button(page, "Create account").click();
      await page.locator("#register-email-error").waitFor();
      await page.locator("#register-password-error").waitFor();
      if ((await field(page, "Email").getAttribute("aria-invalid")) !== "true") throw new Error("Email is not marked invalid");
      await expectText(page, "Some fields need fixing.");
      await checkAccessibility(page, "register-errors");
      await shoot(page, "register-errors");
    },
  ],
  [
    "registering logs you in",
    async (page) => {
      await field(page, "Email").fill(ana.email);
      await field(page, "Password").fill(ana.password);
      await button(page, "Create account").click();
      await expectPath(page, "/");
      await expectText(page, `Welcome back, ${ana.first}.`);
      await button(page, "Log out").waitFor();
      await checkAccessibility(page, "home");
      await shoot(page, "home");
    },
  ],
  [
    "a customer: the empty list, a refused create, a create",
    async (page) => {
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Customers" }).click();
      await expectPath(page, "/customers");
      await field(page, "Name contains").fill(customerName);
      await button(page, "Search").click();
      await expectText(page, "No customers match.");
      await page.getByRole("link", { name: "New customer" }).click();
      await expectPath(page, "/customers/new");
      await button(page, "Create customer").click();
      await page.locator('[id="field-code-error"]').waitFor();
      await page.locator('[id="field-name-error"]').waitFor();
      await checkAccessibility(page, "customer-errors");
      await field(page, "Code").fill(`duck-${RUN}`);
      await field(page, "Name").fill(customerName);
      await field(page, "Extra fields (JSON)").fill('{"region": "north"}');
      await button(page, "Create customer").click();
      await expectText(page, "Created.");
      await expectPath(page, /^\/customers\/[0-9a-f-]{36}$/);
      state.customer = new URL(page.url()).pathname;
      await checkAccessibility(page, "customer");
      await shoot(page, "customer");
      await page.goto(url("/customers"));
      await page.getByRole("link", { name: `duck-${RUN}` }).waitFor();
      await checkAccessibility(page, "customers");
      await shoot(page, "customers");
    },
  ],
  [
    "a product",
    async (page) => {
      await page.goto(url("/products/new"));
      await field(page, "Code").fill(`rd-${RUN}`);
      await field(page, "Name").fill(productName);
      await field(page, "Hierarchy level").fill("sku");
      await button(page, "Create product").click();
      await expectText(page, "Created.");
      await expectPath(page, /^\/products\/[0-9a-f-]{36}$/);
      await checkAccessibility(page, "product");
      await shoot(page, "product");
      await page.goto(url("/products"));
      await page.getByRole("link", { name: `rd-${RUN}` }).waitFor();
      await checkAccessibility(page, "products");
      await shoot(page, "products");
    },
  ],
  [
    "a stale edit is refused, and says what to do",
    async (page) => {
      await page.goto(url(state.customer));
      await field(page, "Name").waitFor();
      // Someone else (another tab) changes the customer meanwhile.
      const other = await page.context().newPage();
      await other.goto(url(state.customer));
      await field(other, "Name").fill(`${customerName} (renamed)`);
      await button(other, "Save").click();
      await expectText(other, "Saved.");
      await other.close();
      await field(page, "Name").fill(`${customerName} (mine)`);
      await button(page, "Save").click();
      await expectText(page, "Someone else changed this record since you opened it");
      await checkAccessibility(page, "stale");
      await shoot(page, "customer-stale");
      await button(page, "Reload the record").click();
      await page.waitForFunction(
        (name) => document.querySelector("#field-name")?.value === name,
        `${customerName} (renamed)`,
      );
    },
  ],
  [
    "a promotion with a discount, submitted",
    async (page) => {
      await page.goto(url("/promotions"));
      await page.getByRole("link", { name: "New promotion" }).click();
      await expectPath(page, "/promotions/new");
      await field(page, "Name").fill(promotionName);
      await pick(page, "Customer", customerName);
      await pick(page, "Product 1", productName);
      await field(page, "Discount 1 value").fill("12.5");
      await field(page, "Discount 1 description").fill("spring sale");
      await button(page, "Create promotion").click();
      await expectText(page, "Created.");
      await expectPath(page, /^\/promotions\/[0-9a-f-]{36}$/);
      state.promotion = new URL(page.url()).pathname;
      await waitForStatus(page, "draft");
      await checkAccessibility(page, "promotion-draft");
      await shoot(page, "promotion");
      await button(page, "Submit for approval").click();
      await waitForStatus(page, "submitted");
      // Ana may not decide on it: the buttons are not there.
      if (await button(page, "Approve").count()) throw new Error("a non-admin is offered Approve");
      await expectText(page, "Waiting for an administrator");
      await page.goto(url("/promotions"));
      await page.getByRole("link", { name: promotionName }).waitFor();
      await checkAccessibility(page, "promotions");
      await shoot(page, "promotions");
    },
  ],
  [
    "logging out ends the session",
    async (page) => {
      await button(page, "Log out").click();
      await expectPath(page, "/login");
      // The refresh cookie is gone or revoked: a reload does not log back in.
      await page.goto(url(state.promotion));
      await expectPath(page, `/login?next=${encodeURIComponent(state.promotion)}`);
    },
  ],
  [
    "an administrator logs in, returns to the promotion and approves it",
    async (page) => {
      await field(page, "Email").fill(ADMIN_EMAIL);
      await field(page, "Password").fill("not the password");
      await button(page, "Log in").click();
      await expectText(page, "The email or the password is wrong.");
      await field(page, "Password").fill(ADMIN_PASSWORD);
      await button(page, "Log in").click();
      await expectPath(page, state.promotion);
      await waitForStatus(page, "submitted");
      await field(page, "Comment (optional)").fill("looks good");
      await button(page, "Approve").click();
      await waitForStatus(page, "approved");
      await expectText(page, "Approved: this promotion is final.");
    },
  ],
  [
    "the promotion's history: who changed what",
    async (page) => {
      const history = page.getByRole("region", { name: "History" });
      // The relay moves events a moment after each write.
      const deadline = Date.now() + 30_000;
      for (;;) {
        const rows = await history.getByRole("row", { name: /approval status submitted approved/ }).count();
        if (rows) break;
        if (Date.now() > deadline) throw new Error("the approval never showed in the history");
        await page.waitForTimeout(500);
        await button(page, "Refresh history").click();
      }
      await history.getByText(`${ana.first} ${ana.last}`).first().waitFor();
      await checkAccessibility(page, "promotion-approved");
      await shoot(page, "promotion-approved");
    },
  ],
  [
    "the audit trail, filtered",
    async (page) => {
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Audit" }).click();
      await expectPath(page, "/audit");
      await page.getByLabel("Type", { exact: true }).selectOption("customer");
      await page.getByLabel("Action", { exact: true }).selectOption("update");
      await button(page, "Search").click();
      await page.getByRole("cell", { name: /update customer/ }).first().waitFor();
      await checkAccessibility(page, "audit");
      await shoot(page, "audit");
    },
  ],
  [
    "users and my account",
    async (page) => {
      await page.goto(url("/users"));
      await field(page, "Name or email contains").fill(ana.email);
      await button(page, "Search").click();
      await page.getByRole("link", { name: `${ana.first} ${ana.last}` }).click();
      await expectPath(page, /^\/users\/[0-9a-f-]{36}$/);
      await field(page, "Administrator").waitFor();
      await checkAccessibility(page, "user");
      await shoot(page, "user");
      await page.goto(url("/users"));
      await page.getByRole("link", { name: `${ana.first} ${ana.last}` }).waitFor();
      await checkAccessibility(page, "users");
      await shoot(page, "users");
      await page.getByRole("link", { name: "My account" }).click();
      await expectPath(page, "/account");
      await page.getByRole("heading", { level: 1, name: "My account" }).waitFor();
      await page.getByRole("heading", { name: "Change your password" }).waitFor();
      await checkAccessibility(page, "account");
      await shoot(page, "account");
    },
  ],
  [
    "logging out, and the session is over",
    async (page) => {
      await button(page, "Log out").click();
      await expectPath(page, "/login");
      const refreshed = await page.evaluate(async () => {
        const r = await fetch("/api/auth/refresh", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
        return r.status;
      });
      if (refreshed !== 401) throw new Error(`a refresh after logout answered ${refreshed}`);
    },
  ],
];

function expectStatus(response, status) {
  if (!response) throw new Error("no response to the navigation");
  if (response.status() !== status) {
    throw new Error(`${response.url()}: status ${response.status()}, expected ${status}`);
  }
}

// ---------------------------------------------------------------------------
// The runner.

const started = Date.now();
const allowed = [];
const problems = [];

function isApi(address) {
  try {
    return new URL(address).pathname.startsWith("/api/");
  } catch {
    return false;
  }
}

function log(line) {
  console.log(line);
}

function seconds(since) {
  return `${((Date.now() - since) / 1000).toFixed(1)}s`;
}

async function main() {
  for (const [name, value] of [["BASE_URL", BASE_URL], ["ADMIN_EMAIL", ADMIN_EMAIL], ["ADMIN_PASSWORD", ADMIN_PASSWORD]]) {
    if (!value) throw new Error(`${name} is not set (see the top of web/tests/e2e.mjs)`);
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Containers: a small /dev/shm, and no GPU.
    args: ["--disable-dev-shm-usage", "--disable-gpu"],
  });
  log(`e2e: ${CHROMIUM} ${browser.version()}, ${BASE_URL}`);
  let failed = 0;
  try {
    // Reduced motion: no colour transitions, which axe would catch halfway.
    const context = await browser.newContext({ viewport: DESKTOP, locale: "en-US", reducedMotion: "reduce" });
    context.setDefaultTimeout(15_000);
    context.setDefaultNavigationTimeout(30_000);
    const page = await context.newPage();
    page.on("console", (message) => {
      if (message.type() !== "error") return;
      const text = message.text();
      const where = message.location()?.url;
      // The browser logs every 4xx response as a console error; the API's
      // (a 401 from the session refresh on a first visit, a 422 for a bad
      // form) are the UI's business and do not count. A page or asset
      // that is missing (a 404 outside /api/) does.
      if (/^Failed to load resource: the server responded with a status of 4\d\d/.test(text) && isApi(where)) {
        return;
      }
      if (allowed.some((pattern) => pattern.test(text))) return;
      problems.push(`console error: ${text}${where ? ` (${where})` : ""}`);
    });
    page.on("pageerror", (error) => problems.push(`uncaught page error: ${error.stack || error}`));
    page.on("response", (response) => {
      if (response.status() >= 500) {
        problems.push(`${response.request().method()} ${response.url()}: status ${response.status()}`);
      }
    });

    for (const [index, [name, run]] of steps.entries()) {
      const since = Date.now();
      log(`e2e: step ${index + 1}/${steps.length}: ${name}`);
      allowed.length = 0;
      problems.length = 0;
      let error;
      try {
        await run(page);
        // Late console errors and responses of the step's last action.
        await page.waitForLoadState("load").catch(() => {});
      } catch (e) {
        error = e;
      }
      const reported = problems.length ? `the page reported:\n  ${problems.join("\n  ")}` : "";
      if (!error && reported) error = new Error(reported);
      else if (error && reported) error.stack = `${error.stack || error}\n${reported}`;
      if (error) {
        failed += 1;
        log(`e2e: FAILED ${name} (${seconds(since)}) at ${page.url()}\n${error.stack || error}`);
        const file = path.join(SCREENSHOT_DIR, `failure-${index + 1}.png`);
        try {
          mkdirSync(SCREENSHOT_DIR, { recursive: true });
          await page.screenshot({ path: file, fullPage: true });
          log(`e2e: the page as it was: ${file}`);
        } catch {}
        // Later steps build on this one's state.
        break;
      }
      log(`e2e: ok ${name} (${seconds(since)})`);
    }
  } finally {
    await browser.close();
  }
  if (failed) {
    log(`e2e: FAILED after ${seconds(started)}`);
    process.exit(1);
  }
  log(`e2e: all ${steps.length} steps passed in ${seconds(started)}`);
}

main().catch((error) => {
  console.error(`e2e: ${error.stack || error}`);
  process.exit(1);
});
