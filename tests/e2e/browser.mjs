// Shared set-up for the end-to-end tests: a real office-suite server (the
// integration harness: port 0, temporary data dir), users made over REST,
// and Debian's chromium driven by playwright-core.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";
import { ADMIN, api, login, startServer } from "../integration/harness.mjs";

export { api, startServer };
const require = createRequire(import.meta.url);
export const PASSWORD = "quartz-lantern-5820";
export const OUT = process.env.OFFICE_E2E_OUT ?? path.resolve("build/e2e");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
}

/// Signs the admin in over REST and creates users {key: displayName}.
export async function makeUsers(srv, names) {
  const admin = await login(srv.base, ADMIN.email, ADMIN.password);
  const users = { admin: { ...admin.user, token: admin.accessToken, email: ADMIN.email, password: ADMIN.password } };
  for (const [key, displayName] of Object.entries(names)) {
    const email = `${key}@example.com`;
    const r = await api(srv.base, "POST", "/api/v1/users", {
      token: admin.accessToken, body: { email, password: PASSWORD, displayName },
    });
    if (r.status !== 200 && r.status !== 201) throw new Error(`create ${key}: ${r.status} ${r.text}`);
    const l = await login(srv.base, email, PASSWORD);
    users[key] = { ...r.json, email, password: PASSWORD, token: l.accessToken };
  }
  return users;
}

/// A new browser context signed in through the sign-in form.
export async function signedIn(browser, srv, user, { viewport = { width: 1280, height: 800 } } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  page.on("pageerror", (e) => console.error(`[${user.email}] page error:`, e.message));
  await page.goto(srv.base + "/");
  await page.fill("input[name=email]", user.email);
  await page.fill("input[name=password]", user.password);
  await page.click("button[type=submit]");
  await page.waitForSelector("nav[aria-label=Main]");
  return { context, page };
}

/// The editor's text as the user sees it (remote cursor labels left out).
export async function editorText(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll(".cm-content .cm-line")]
      .map((l) => {
        const c = l.cloneNode(true);
        c.querySelectorAll(".cm-remote-cursor").forEach((x) => x.remove());
        return c.textContent;
      })
      .join("\n"),
  );
}

/// Opens /docs/<id> and waits until the editor is connected.
export async function openDoc(page, srv, id) {
  await page.goto(`${srv.base}/docs/${id}`);
  await page.waitForSelector(".cm-content");
  await page.waitForSelector('[data-state="connected"]');
}

/// The document's current text from the server (REST, a version past the last).
export async function serverText(srv, token, id) {
  const r = await api(srv.base, "GET", `/api/v1/docs/${id}/versions/999999999`, { token });
  if (r.status !== 200) throw new Error(`snapshot: ${r.status} ${r.text}`);
  return r.json.text ?? "";
}

export async function until(cond, what, ms = 20000) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    last = await cond();
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/// axe-core's serious and critical violations on the page.
export async function axeViolations(page) {
  await page.addScriptTag({ path: require.resolve("axe-core/axe.min.js") });
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

export function screenshotPath(name) {
  fs.mkdirSync(OUT, { recursive: true });
  return path.join(OUT, name);
}

export async function createDoc(srv, token, title) {
  const r = await api(srv.base, "POST", "/api/v1/docs", { token, body: { title } });
  if (r.status !== 201 && r.status !== 200) throw new Error(`create doc: ${r.status} ${r.text}`);
  return r.json;
}

export async function share(srv, token, id, granteeId, role) {
  const r = await api(srv.base, "POST", `/api/v1/docs/${id}/shares`, { token, body: { kind: "user", granteeId, role } });
  if (r.status !== 200) throw new Error(`share: ${r.status} ${r.text}`);
}
