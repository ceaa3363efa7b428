// What the console's browser tests share: Debian's chromium under playwright-core, a page that
// fails the test on any Content-Security-Policy violation or uncaught error, sign-in as a person
// does it (the "Token" field, the "Sign in" button), screenshots, and one JSON result line for
// the Rust test (tests/tests/console_browser.rs) that started the script.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

export const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (the Rust test sets it)`);
  return v;
};

/** A browser and a page on the console; `problems` collects CSP violations and page errors. */
export async function open() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    // Root in a container: chromium's sandbox needs user namespaces it may not have.
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
    timeout: 60_000,
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(Number(process.env.STEP_TIMEOUT_MS || 20_000));
  const problems = [];
  page.on("console", (m) => {
    const text = m.text();
    if (/Content Security Policy|Refused to/i.test(text)) problems.push(`csp: ${text}`);
    else if (m.type() === "error" && !/status of (401|403|404)/.test(text)) problems.push(`console error: ${text}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  return { browser, context, page, problems };
}

/** Signs in with a token through the sign-in page and waits for the navigation. */
export async function signIn(page, base, token) {
  await page.goto(`${base}/`);
  await page.getByLabel("Token").fill(token);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByRole("link", { name: "Approvals", exact: true }).waitFor();
}

export async function shot(page, name) {
  const dir = process.env.SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}

/** The card of the request whose statement contains `text`. */
export function cardOf(page, text) {
  return page.locator("article.card").filter({ has: page.locator("pre.visible", { hasText: text }) });
}

/** Runs `body({page, ...})`, prints `RESULT <json>` with what it returned plus the problems
 * seen, and exits non-zero on an exception or a CSP violation. */
export async function run(body) {
  const session = await open();
  let code = 0;
  let result = {};
  try {
    result = (await body(session)) ?? {};
  } catch (e) {
    code = 1;
    result = { error: String(e && e.stack ? e.stack : e) };
    await shot(session.page, `failure-${process.argv[1].split("/").pop().replace(/\.mjs$/, "")}`).catch(() => {});
  }
  result.problems = session.problems;
  if (session.problems.some((p) => p.startsWith("csp:") || p.startsWith("page error:"))) code = code || 2;
  console.log(`RESULT ${JSON.stringify(result)}`);
  await session.browser.close();
  process.exit(code);
}
