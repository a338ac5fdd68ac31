// The web app in a real browser: sign-in and its errors, the shell, the
// document list (create, rename, search, trash, restore), deep links and
// reloads, sign-out, and axe-core on each main screen.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { api, axeViolations, launch, makeUsers, screenshotPath, signedIn, startServer, until } from "./browser.mjs";

let srv, browser, users;
before(async () => {
  srv = await startServer();
  users = await makeUsers(srv, { alice: "Alice Martin", bob: "Bob Stone" });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await srv?.stop();
});

test("the sign-in page: wrong password is refused with a message; accessible", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(srv.base + "/");
  await page.waitForSelector("input[name=email]");
  assert.deepEqual(await axeViolations(page), []);
  await page.fill("input[name=email]", users.alice.email);
  await page.fill("input[name=password]", "not-the-password-1");
  await page.click("button[type=submit]");
  const alert = await page.waitForSelector("[role=alert]");
  assert.match(await alert.textContent(), /wrong e-mail, password/i);
  await context.close();
});

test("sign in, the shell, create, rename, search, trash and restore, deep link, sign out", async () => {
  const { context, page } = await signedIn(browser, srv, users.alice);
  // The shell: the user's name, tenant and plan; modules without a view are hidden.
  const header = await page.textContent("header");
  assert.match(header, /Alice Martin/);
  assert.match(header, /default/);
  assert.match(header, /Free/);
  const navLinks = await page.$$eval("nav[aria-label=Main] a", (as) => as.map((a) => a.textContent));
  assert.deepEqual(navLinks, ["Documents", "Trash"]);

  // Create: the new document opens in the editor at /docs/<id>.
  await page.click("text=New document");
  await page.waitForURL(/\/docs\/[A-Za-z0-9._~-]+$/);
  const id = page.url().split("/").pop();
  await page.waitForSelector(".cm-content");
  const meta = await api(srv.base, "GET", `/api/v1/docs/${id}`, { token: users.alice.token });
  assert.equal(meta.status, 200);
  assert.equal(meta.json.title, "Untitled");

  // Deep link after a reload.
  await page.reload();
  await page.waitForSelector(".cm-content");
  assert.equal(new URL(page.url()).pathname, `/docs/${id}`);

  // Rename from the list.
  await page.click("nav >> text=Documents");
  await page.click(`button[aria-label="Rename Untitled"]`);
  await page.fill("input[name=title]", "Quarterly plan 🚀");
  await page.click("form.rename button[type=submit]");
  await until(async () => (await api(srv.base, "GET", `/api/v1/docs/${id}`, { token: users.alice.token })).json.title === "Quarterly plan 🚀", "the rename on the server");
  await page.waitForSelector("a.title:has-text('Quarterly plan 🚀')");

  // A second document, and search by title.
  await api(srv.base, "POST", "/api/v1/docs", { token: users.alice.token, body: { title: "Budget notes" } });
  await page.reload();
  await page.waitForSelector("a.title:has-text('Budget notes')");
  const titles = async () => page.$$eval("a.title", (as) => as.map((a) => a.textContent));
  assert.deepEqual(await titles(), ["Budget notes", "Quarterly plan 🚀"]); // recent first
  await page.fill("input[type=search]", "quarter");
  await until(async () => (await titles()).length === 1, "the search result");
  assert.deepEqual(await titles(), ["Quarterly plan 🚀"]);
  await page.fill("input[type=search]", "");
  await until(async () => (await titles()).length === 2, "the full list again");
  assert.deepEqual(await axeViolations(page), []);
  await page.screenshot({ path: screenshotPath("document-list.png") });

  // Share with Bob as a viewer; the dialog lists who has access.
  await page.click(`button[aria-label="Share Budget notes"]`);
  await page.selectOption("select[name=grantee]", { label: `Bob Stone (${users.bob.email})` });
  await page.selectOption("select[name=role]", "viewer");
  await page.click("form.share-form button[type=submit]");
  await page.waitForSelector(".shares li:has-text('Bob Stone')");
  const budget = (await api(srv.base, "GET", "/api/v1/docs?q=Budget", { token: users.alice.token })).json.documents[0];
  const shares = await api(srv.base, "GET", `/api/v1/docs/${budget.id}/shares`, { token: users.alice.token });
  assert.deepEqual(shares.json.shares.map((s) => [s.kind, s.granteeId, s.role]), [["user", users.bob.id, "viewer"]]);
  assert.deepEqual(await axeViolations(page), []);
  await page.click("dialog button:has-text('Close')");

  // Trash, then restore from the trash.
  await page.click(`button[aria-label="Move Budget notes to the trash"]`);
  await until(async () => (await titles()).length === 1, "the trashed document to leave the list");
  const trashed = await api(srv.base, "GET", "/api/v1/docs?trashed=true", { token: users.alice.token });
  assert.deepEqual(trashed.json.documents.map((d) => d.title), ["Budget notes"]);
  await page.click("nav >> text=Trash");
  await page.click(`button[aria-label="Restore Budget notes"]`);
  await until(async () => {
    const r = await api(srv.base, "GET", "/api/v1/docs?trashed=true", { token: users.alice.token });
    return (r.json.documents ?? []).length === 0;
  }, "the restore on the server");

  // An unknown document: a message, not a blank page.
  await page.goto(`${srv.base}/docs/no-such-document`);
  const alert = await page.waitForSelector("[role=alert]");
  assert.match(await alert.textContent(), /does not exist|not shared/);

  // Sign out: back to the sign-in form, and the refresh token is dead.
  const session = await page.evaluate(() => JSON.parse(localStorage.getItem("office.session")));
  await page.click("text=Sign out");
  await page.waitForSelector("input[name=email]");
  await until(async () => (await api(srv.base, "POST", "/api/v1/auth/refresh", { body: { refreshToken: session.refreshToken } })).status === 401, "the session to end on the server");
  await context.close();
});

test("the session refreshes its token silently", async () => {
  const { context, page } = await signedIn(browser, srv, users.alice);
  // Pretend the access token is about to expire: the next request refreshes first.
  const before = await page.evaluate(() => {
    const s = JSON.parse(localStorage.getItem("office.session"));
    return s.refreshToken;
  });
  await page.evaluate(() => {
    const s = JSON.parse(localStorage.getItem("office.session"));
    s.expiresAt = Date.now() + 1000;
    localStorage.setItem("office.session", JSON.stringify(s));
  });
  await page.reload();
  await page.waitForSelector("nav[aria-label=Main]");
  const after = await until(async () => {
    const s = await page.evaluate(() => JSON.parse(localStorage.getItem("office.session")));
    return s && s.refreshToken !== before ? s : null;
  }, "a refreshed session");
  assert.ok(after.expiresAt > Date.now() + 30_000);
  // The old refresh token was rotated away; the new access token works.
  const me = await api(srv.base, "GET", "/api/v1/users/me", { token: after.accessToken });
  assert.equal(me.status, 200);
  assert.equal(me.json.email, users.alice.email);
  await context.close();
});

test("the login back-off (429) is shown as such", async () => {
  const limited = await startServer({ env: { OFFICE_AUTH_LOGIN_PAIR_MAX_FAILURES: "2" } });
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(limited.base + "/");
    await page.fill("input[name=email]", "admin@example.com");
    let message = "";
    for (let i = 0; i < 5 && !/too many/i.test(message); i++) {
      await page.fill("input[name=password]", `wrong-guess-${i}`);
      await page.click("button[type=submit]");
      await page.waitForSelector("button[type=submit]:not([disabled])");
      message = (await page.textContent("[role=alert]")) ?? "";
    }
    assert.match(message, /Too many attempts\. Try again in \d+ seconds\./);
    await context.close();
  } finally {
    await limited.stop();
  }
});

test("a narrow window: no horizontal scrolling on the list and in the editor", async () => {
  const { context, page } = await signedIn(browser, srv, users.alice, { viewport: { width: 360, height: 740 } });
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await page.waitForSelector("a.title");
  assert.ok((await overflow()) <= 0, `list overflows by ${await overflow()}px`);
  await page.click("a.title");
  await page.waitForSelector(".cm-content");
  await page.click("button:has-text('History')");
  await page.waitForSelector(".versions li");
  assert.ok((await overflow()) <= 0, `editor overflows by ${await overflow()}px`);
  await page.screenshot({ path: screenshotPath("editor-narrow.png") });
  await context.close();
});

test("an admin adds a person; the server's weak-password answers are shown as such", async () => {
  const { context, page } = await signedIn(browser, srv, users.admin);
  await page.click("nav >> text=People");
  await page.waitForSelector("h1:has-text('People')");
  await page.fill("input[name=new-email]", "dora@example.com");
  await page.fill("input[name=new-name]", "Dora Explorer");
  await page.fill("input[name=new-password]", "short7");
  await page.click("form.add-person button[type=submit]");
  assert.match(await (await page.waitForSelector("form.add-person [role=alert]")).textContent(), /at least 8 characters/);
  await page.fill("input[name=new-password]", "password1");
  await page.click("form.add-person button[type=submit]");
  await page.waitForSelector("form.add-person [role=alert]:has-text('too common')");
  await page.fill("input[name=new-password]", "harbour-violet-2281");
  await page.click("form.add-person button[type=submit]");
  await page.waitForSelector(".doc-row:has-text('Dora Explorer')");
  const r = await api(srv.base, "POST", "/api/v1/auth/login", { body: { email: "dora@example.com", password: "harbour-violet-2281" } });
  assert.equal(r.status, 200);
  assert.deepEqual(await axeViolations(page), []);
  await context.close();
});

test("sharing with a group and with the whole organisation; the grantee's list shows the document", async () => {
  const g = await api(srv.base, "POST", "/api/v1/groups", { token: users.admin.token, body: { name: "Reviewers", memberIds: [users.bob.id] } });
  assert.ok(g.status === 200 || g.status === 201, g.text);
  const docs = [];
  for (const title of ["For the group", "For everyone"])
    docs.push((await api(srv.base, "POST", "/api/v1/docs", { token: users.alice.token, body: { title } })).json);
  const { context, page } = await signedIn(browser, srv, users.alice);
  await page.click(`button[aria-label="Share For the group"]`);
  await page.selectOption("dialog select >> nth=0", "group");
  await page.selectOption("select[name=grantee]", { label: "Reviewers" });
  await page.selectOption("select[name=role]", "commenter");
  await page.click("form.share-form button[type=submit]");
  await page.waitForSelector(".shares li:has-text('Group Reviewers')");
  await page.click("dialog button:has-text('Close')");
  await page.click(`button[aria-label="Share For everyone"]`);
  await page.selectOption("dialog select >> nth=0", "tenant");
  await page.selectOption("select[name=role]", "editor");
  await page.click("form.share-form button[type=submit]");
  await page.waitForSelector(".shares li:has-text('Everyone in the organisation')");
  await page.click("dialog button:has-text('Close')");
  const shares = async (d) => (await api(srv.base, "GET", `/api/v1/docs/${d.id}/shares`, { token: users.alice.token })).json.shares.map((s) => [s.kind, s.role]);
  assert.deepEqual(await shares(docs[0]), [["group", "commenter"]]);
  assert.deepEqual(await shares(docs[1]), [["tenant", "editor"]]);
  await context.close();

  const b = await signedIn(browser, srv, users.bob);
  await b.page.waitForSelector("a.title:has-text('For everyone')");
  const rows = await b.page.$$eval(".doc-row", (rs) => rs.map((r) => [r.querySelector(".title").textContent, r.querySelector(".role").textContent]));
  assert.deepEqual(rows.filter(([t]) => t.startsWith("For ")).sort(), [["For everyone", "editor"], ["For the group", "commenter"]]);
  await b.context.close();
});
