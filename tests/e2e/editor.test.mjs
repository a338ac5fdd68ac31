// The collaborative editor in two (and three) real browsers against the real
// server: convergence with emoji and CJK checked against the server's
// snapshot, remote cursors, read-only viewers, offline edits sent exactly
// once, undo of one's own edits only, a restored version reaching the other
// user live, and axe-core on the editor.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  api, axeViolations, createDoc, editorText, launch, makeUsers, openDoc, screenshotPath, serverText, share,
  signedIn, startServer, until,
} from "./browser.mjs";

let srv, browser, users, alice, bob;
before(async () => {
  srv = await startServer();
  users = await makeUsers(srv, { alice: "Alice Martin", bob: "Bob 陈", carol: "Carol Viewer" });
  browser = await launch();
  alice = await signedIn(browser, srv, users.alice);
  bob = await signedIn(browser, srv, users.bob);
});
after(async () => {
  await browser?.close();
  await srv?.stop();
});

async function sharedDoc(title) {
  const doc = await createDoc(srv, users.alice.token, title);
  await share(srv, users.alice.token, doc.id, users.bob.id, "editor");
  return doc.id;
}

const count = (hay, needle) => hay.split(needle).length - 1;

async function converged(id, ...pages) {
  return until(async () => {
    const server = await serverText(srv, users.alice.token, id);
    for (const p of pages) if ((await editorText(p)) !== server) return null;
    return server;
  }, "the editors and the server to agree", 30000);
}

test("two users type concurrently (emoji, CJK): both editors and the server converge; each sees the other's cursor", async () => {
  const id = await sharedDoc("Concurrent");
  await openDoc(alice.page, srv, id);
  await openDoc(bob.page, srv, id);
  await alice.page.click(".cm-content");
  await bob.page.click(".cm-content");
  const a = "Alice 😀 says héllo 🇫🇷 ";
  const b = "鲍勃说你好 🎉 ok ";
  await Promise.all([
    alice.page.keyboard.type(a, { delay: 15 }),
    bob.page.keyboard.type(b, { delay: 15 }),
  ]);
  await alice.page.keyboard.press("Enter");
  await alice.page.keyboard.type("第二行 ✅", { delay: 15 });
  const text = await converged(id, alice.page, bob.page);
  for (const s of [a.trim(), b.trim(), "第二行 ✅"]) assert.equal(count(text, s), 1, `${s} once in ${JSON.stringify(text)}`);
  assert.equal([...text].length, [...a].length + [...b].length + 1 + [..."第二行 ✅"].length);

  // Each sees the other's cursor, labelled with the other's name.
  await alice.page.waitForSelector(".cm-remote-cursor-label:has-text('Bob 陈')");
  await bob.page.waitForSelector(".cm-remote-cursor-label:has-text('Alice Martin')");
  await alice.page.screenshot({ path: screenshotPath("editor-two-cursors.png") });
  assert.deepEqual(await axeViolations(alice.page), []);
});

test("a viewer cannot type", async () => {
  const id = await sharedDoc("Read only");
  await share(srv, users.alice.token, id, users.carol.id, "viewer");
  await openDoc(alice.page, srv, id);
  await alice.page.click(".cm-content");
  await alice.page.keyboard.type("Written by Alice.");
  await converged(id, alice.page);
  const carol = await signedIn(browser, srv, users.carol);
  await openDoc(carol.page, srv, id);
  await carol.page.waitForSelector("text=Read-only (viewer)");
  assert.equal(await carol.page.getAttribute(".cm-content", "contenteditable"), "false");
  await carol.page.click(".cm-content");
  await carol.page.keyboard.type("CAROL WAS HERE");
  await carol.page.keyboard.press("Enter");
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(await editorText(carol.page), "Written by Alice.");
  assert.equal(await serverText(srv, users.alice.token, id), "Written by Alice.");
  // She still sees live edits.
  await alice.page.keyboard.type(" More.");
  await until(async () => (await editorText(carol.page)) === "Written by Alice. More.", "the viewer to see the edit");
  await carol.context.close();
});

test("edits made offline are sent on reconnect, exactly once", async () => {
  const id = await sharedDoc("Offline");
  await openDoc(alice.page, srv, id);
  await openDoc(bob.page, srv, id);
  await alice.page.click(".cm-content");
  await alice.page.keyboard.type("online. ");
  await converged(id, alice.page, bob.page);

  await alice.context.setOffline(true);
  await alice.page.waitForSelector('[data-state="offline"]');
  await alice.page.keyboard.type("offline 一 ");
  await alice.page.keyboard.type("two 😀");
  await until(async () => Number(await alice.page.getAttribute("[data-state]", "data-pending")) > 0, "pending changes");
  assert.match(await alice.page.textContent("[data-state]"), /Offline, \d+ pending change/);
  // Bob types meanwhile; the server has not seen Alice's offline text.
  await bob.page.click(".cm-content");
  await bob.page.keyboard.press("Control+Home");
  await bob.page.keyboard.type("Bob: ");
  await until(async () => (await serverText(srv, users.alice.token, id)).startsWith("Bob: "), "Bob's edit on the server");
  assert.equal(count(await serverText(srv, users.alice.token, id), "offline"), 0);

  await alice.context.setOffline(false);
  await alice.page.waitForSelector('[data-state="connected"][data-pending="0"]', { timeout: 30000 });
  const text = await converged(id, alice.page, bob.page);
  assert.equal(text, "Bob: online. offline 一 two 😀");
  // Still once after a while (no late duplicate from a resend).
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(await serverText(srv, users.alice.token, id), "Bob: online. offline 一 two 😀");
});

test("undo undoes only your own edits", async () => {
  const id = await sharedDoc("Undo");
  await openDoc(alice.page, srv, id);
  await openDoc(bob.page, srv, id);
  await alice.page.click(".cm-content");
  await alice.page.keyboard.type("AAA");
  await converged(id, alice.page, bob.page);
  await bob.page.click(".cm-content");
  await bob.page.keyboard.press("Control+End");
  await bob.page.keyboard.type(" BBB");
  await converged(id, alice.page, bob.page);
  await alice.page.keyboard.press("Control+z");
  const text = await converged(id, alice.page, bob.page);
  assert.equal(text, " BBB");
  await alice.page.keyboard.press("Control+Shift+z");
  assert.equal(await converged(id, alice.page, bob.page), "AAA BBB");
});

test("restoring a version reaches the other user live", async () => {
  const id = await sharedDoc("History");
  await openDoc(alice.page, srv, id);
  await openDoc(bob.page, srv, id);
  await alice.page.click(".cm-content");
  await alice.page.keyboard.type("First draft.");
  await converged(id, alice.page, bob.page);
  // The version after the last edit so far (the newest op applied at v - 1).
  const log = await api(srv.base, "GET", `/api/v1/docs/${id}/versions`, { token: users.alice.token });
  const v = log.json.versions[0].version + 1;
  await alice.page.keyboard.type(" Second thoughts 🤔");
  await converged(id, alice.page, bob.page);

  await alice.page.click("button:has-text('History')");
  await alice.page.click(`button[aria-label="View version ${v}"]`);
  await alice.page.waitForSelector(`.version-text:has-text("First draft.")`);
  assert.equal(await alice.page.textContent(".version-text"), "First draft.");
  await alice.page.click(`button:has-text("Restore version ${v}")`);
  await until(async () => (await editorText(bob.page)) === "First draft.", "Bob to see the restored text");
  assert.equal(await converged(id, alice.page, bob.page), "First draft.");
});

test("the Markdown preview is rendered and sanitised: no script from the document runs", async () => {
  const id = await sharedDoc("Preview");
  await openDoc(alice.page, srv, id);
  await alice.page.click(".cm-content");
  const evil = '<img src="x" onerror="window.__pwned=1"><script>window.__pwned=2</script>[link](javascript:window.__pwned=3)';
  await alice.page.keyboard.type("# Heading 标题\n\nSome **bold** text. ");
  await alice.page.keyboard.insertText(evil);
  await converged(id, alice.page);
  await alice.page.click("button:has-text('Preview')");
  await alice.page.waitForSelector(".preview h1:has-text('Heading 标题')");
  assert.equal(await alice.page.textContent(".preview strong"), "bold");
  assert.equal(await alice.page.locator(".preview script").count(), 0);
  assert.equal(await alice.page.locator(".preview [onerror]").count(), 0);
  const hrefs = await alice.page.$$eval(".preview a", (as) => as.map((a) => a.getAttribute("href") ?? ""));
  assert.ok(hrefs.every((h) => !/^javascript:/i.test(h)), JSON.stringify(hrefs));
  await alice.page.click(".preview a").catch(() => {});
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await alice.page.evaluate(() => window.__pwned), undefined);
  await alice.page.click("button:has-text('Preview')");
});

test("an expired session asks to sign in again over the editor, and the unsent edits are sent after", async () => {
  const id = await sharedDoc("Expiry");
  const a = await signedIn(browser, srv, users.alice);
  await openDoc(a.page, srv, id);
  await a.page.click(".cm-content");
  await a.page.keyboard.type("kept. ");
  await converged(id, a.page);
  await a.context.setOffline(true);
  await a.page.waitForSelector('[data-state="offline"]');
  await a.page.keyboard.type("unsent 編集 ✍️");
  // The session ends on the server (as when it is revoked or runs out).
  const session = await a.page.evaluate(() => JSON.parse(localStorage.getItem("office.session")));
  const out = await api(srv.base, "POST", "/api/v1/auth/logout", { body: { refreshToken: session.refreshToken } });
  assert.equal(out.status, 204);
  await a.context.setOffline(false);
  await a.page.waitForSelector("text=Your session has ended", { timeout: 30000 });
  assert.equal(await editorText(a.page), "kept. unsent 編集 ✍️");
  assert.equal(await serverText(srv, users.alice.token, id), "kept. ");
  assert.equal(await a.page.inputValue("input[name=email]"), users.alice.email);
  await a.page.fill("input[name=password]", users.alice.password);
  await a.page.click("button[type=submit]");
  await a.page.waitForSelector('[data-state="connected"][data-pending="0"]', { timeout: 30000 });
  assert.equal(await converged(id, a.page), "kept. unsent 編集 ✍️");
  await a.context.close();
});

test("a document trashed while open, and an unreachable server, are told as such", async () => {
  const id = await sharedDoc("Going away");
  await openDoc(bob.page, srv, id);
  const r = await api(srv.base, "DELETE", `/api/v1/docs/${id}`, { token: users.alice.token });
  assert.equal(r.status, 200);
  const alert = await bob.page.waitForSelector("[role=alert]");
  assert.match(await alert.textContent(), /moved to the trash or deleted/);

  await bob.context.setOffline(true);
  await bob.page.click("nav >> text=Documents");
  const offline = await bob.page.waitForSelector("[role=alert]:has-text('cannot be reached')");
  assert.ok(offline);
  await bob.context.setOffline(false);
});

test("the editor's socket outlives its access token: the refreshed token renews it in place", async () => {
  const short = await startServer({ env: { OFFICE_AUTH_ACCESS_TTL_S: "6" } });
  try {
    const [u] = Object.values(await makeUsers(short, { erin: "Erin Short" })).slice(1);
    const doc = await createDoc(short, u.token, "Short tokens");
    const { context, page } = await signedIn(browser, short, u);
    const sockets = [];
    page.on("websocket", (ws) => sockets.push(ws.url()));
    await openDoc(page, short, doc.id);
    await page.click(".cm-content");
    await page.keyboard.type("before ");
    // Over two lifetimes of the first access token.
    await new Promise((r) => setTimeout(r, 14000));
    await page.keyboard.type("after");
    const token = (await api(short.base, "POST", "/api/v1/auth/login", { body: { email: u.email, password: u.password } })).json.accessToken;
    await until(async () => (await serverText(short, token, doc.id)) === "before after", "the text on the server");
    assert.equal(await page.getAttribute("[data-state]", "data-state"), "connected");
    assert.equal(sockets.length, 1, "one socket all along (a reconnect means the socket was closed at expiry)");
    await context.close();
  } finally {
    await short.stop();
  }
});

test("text from another client with CRLF line ends and astral characters keeps every position", async () => {
  const id = await sharedDoc("Line ends");
  const { connect, subscribe, submit } = await import("../integration/sharedb_client.mjs");
  const { connection } = connect(srv, users.bob.token);
  const doc = await subscribe(connection.get("docs", id));
  await submit(doc, ["one\r\ntwo 😀\r\nthree"]);
  await openDoc(alice.page, srv, id);
  await alice.page.click(".cm-content");
  await alice.page.keyboard.press("Control+End");
  await alice.page.keyboard.type(" 🎯");
  await until(async () => (await serverText(srv, users.alice.token, id)).endsWith("🎯"), "Alice's edit on the server");
  assert.equal(await serverText(srv, users.alice.token, id), "one\r\ntwo 😀\r\nthree 🎯");
  // And a remote edit after the CRLFs lands where it belongs in her editor.
  await submit(doc, [14, "!"]);
  await until(async () => (await editorText(alice.page)).includes("!"), "the remote edit");
  assert.equal((await editorText(alice.page)).replace(/\r/g, ""), "one\ntwo 😀\nth!ree 🎯");
  connection.close();
});
