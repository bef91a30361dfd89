// Drives the veritrail console in Debian's chromium with playwright-core
// (run by crates/cli/tests/console.rs, which starts the server and stores
// the events). Prints "ok: <step>" per step; exits non-zero on the first
// failure. Screenshots of every page go to $SHOTS.
//
// Env: BASE (http://127.0.0.1:PORT), AUDITOR, WRITER, ADMIN (tokens),
// CHROMIUM (the browser binary), SHOTS (a directory).

import http from "node:http";
import { chromium } from "playwright-core";

const { BASE, AUDITOR, WRITER, ADMIN, CHROMIUM, SHOTS } = process.env;
const timings = {};

function check(cond, what) {
  if (!cond) throw new Error(`FAILED: ${what}`);
}

// A proxy in front of the server that flips one byte of every stored
// entry it passes on (`…/events/N/raw`): what a tampering server or a
// man in the middle would serve.
function tamperingProxy(target) {
  const t = new URL(target);
  const srv = http.createServer((req, res) => {
    const up = http.request(
      { host: t.hostname, port: t.port, path: req.url, method: req.method, headers: req.headers },
      (r) => {
        const chunks = [];
        r.on("data", (c) => chunks.push(c));
        r.on("end", () => {
          let body = Buffer.concat(chunks);
          if (/\/events\/\d+\/raw$/.test(req.url.split("?")[0]) && body.length > 20) {
            body = Buffer.from(body);
            body[body.length - 10] ^= 0x01;
          }
          const headers = { ...r.headers, "content-length": String(body.length) };
          delete headers["transfer-encoding"];
          res.writeHead(r.statusCode, headers);
          res.end(body);
        });
      },
    );
    req.pipe(up);
  });
  return new Promise((ok) => srv.listen(0, "127.0.0.1", () => ok(srv)));
}

async function signIn(page, base, token) {
  await page.goto(base + "/");
  await page.waitForSelector("#signin");
  await page.fill("#token", token);
  await page.click("#signin button[type=submit]");
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
let exitCode = 0;
try {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await ctx.newPage();
  const dialogs = [];
  page.on("dialog", async (d) => {
    dialogs.push(d.message());
    await d.dismiss();
  });
  const cspViolations = [];
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });

  // A writer token is refused; a wrong one too; the auditor signs in.
  await signIn(page, BASE, WRITER);
  await page.waitForSelector("#signin p.error:not(:empty)");
  check((await page.textContent("#signin p.error")).includes("writer"), "a writer is told why");
  await signIn(page, BASE, "vt_wrong");
  await page.waitForSelector("#signin p.error:not(:empty)");
  await page.screenshot({ path: `${SHOTS}/signin.png` });
  await signIn(page, BASE, AUDITOR);
  await page.waitForSelector("#events tr.row");
  const cookies = await ctx.cookies();
  const c = cookies.find((x) => x.name === "vt_session");
  check(c && c.httpOnly && c.sameSite === "Strict", "the session cookie is HttpOnly and SameSite=Strict");
  check((await page.evaluate(() => document.cookie)) === "", "scripts cannot read the session cookie");
  timings.first_page_ms = Number(await page.getAttribute("#status", "data-ms"));
  await page.screenshot({ path: `${SHOTS}/events.png` });
  console.log(`ok: signed in (first page of events in ${timings.first_page_ms.toFixed(1)} ms)`);

  // Filters: failures of bob only.
  await page.fill("#f-actor", "bob");
  await page.fill("#f-outcome", "failure");
  await page.click("#filters button[type=submit]");
  await page.waitForFunction(() => location.hash.includes("actor=bob"));
  await page.waitForSelector("#events tr.row");
  const actors = await page.$$eval("#events tr.row td:nth-child(4) a:first-child", (as) => as.map((a) => a.textContent));
  check(actors.length === 20 && actors.every((a) => a === "bob"), `20 rows of bob, got ${JSON.stringify(actors)}`);
  await page.screenshot({ path: `${SHOTS}/events-filtered.png` });
  console.log("ok: filtered");

  // Export: the filtered entries as an evidence bundle, downloaded (the
  // Rust side verifies the file with verify-bundle).
  const downloaded = page.waitForEvent("download", { timeout: 60000 }).catch((e) => e);
  await page.click("#export");
  await page.waitForFunction(() => /^(Saved|Export failed)/.test(document.querySelector("#export-result").textContent), null, { timeout: 60000 });
  const said = await page.textContent("#export-result");
  check(said.startsWith("Saved"), said);
  const download = await downloaded;
  check(!(download instanceof Error), `a download: ${download}`);
  const saved = `${SHOTS}/console-export.bundle`;
  await download.saveAs(saved);
  check(said.includes("20 entries"), `export names its 20 entries: ${said}`);
  console.log(`ok: exported ${saved}`);

  // An event, verified in the browser.
  await page.click("#events tr.row >> nth=0");
  await page.waitForSelector("#badge[data-verified]");
  const badge = await page.textContent("#badge");
  check((await page.getAttribute("#badge", "data-verified")) === "true", `verified: ${badge}`);
  check(/verified against checkpoint \d+ of log \S+, signed by/.test(badge), `badge text: ${badge}`);
  check((await page.getAttribute("#badge", "data-core")) === "true", "veritrail-core (WebAssembly) verified it too");
  check(badge.includes("by WebCrypto and by veritrail-core in WebAssembly"), `both verifiers named: ${badge}`);
  timings.verify_ms = Number(await page.getAttribute("#badge", "data-ms"));
  timings.verify_wasm_ms = Number(await page.getAttribute("#badge", "data-core-ms"));
  await page.screenshot({ path: `${SHOTS}/event-verified.png`, fullPage: true });
  console.log(`ok: verified (${timings.verify_ms.toFixed(1)} ms in the browser): ${badge}`);

  // The XSS event: its fields are shown as text, nothing runs.
  await page.goto(`${BASE}/#/events?log=default&action=xss.test`);
  await page.waitForSelector("#events tr.row");
  const cell = await page.textContent("#events tr.row td:nth-child(8)");
  check(cell.includes("<script>window.__xss=2</script>") && cell.includes("<img src=x"), `shown as text: ${cell}`);
  check((await page.$$("#main img")).length === 0, "no <img> element made from the data");
  await page.click("#events tr.row >> nth=0");
  await page.waitForSelector("#badge[data-verified=true]");
  check((await page.textContent("#entry")).includes("<script>"), "the stored entry is shown as text");
  check((await page.evaluate(() => window.__xss)) === undefined, "no script from the data ran");
  check(dialogs.length === 0, `no dialog opened: ${dialogs}`);
  await page.screenshot({ path: `${SHOTS}/event-xss.png`, fullPage: true });
  console.log("ok: xss shown as text");

  // Live tail: new events appear without a reload.
  await page.goto(`${BASE}/#/events?log=default&action=live.*`);
  await page.waitForSelector("#status:not(:empty)");
  await page.click("#live");
  await new Promise((r) => setTimeout(r, 500));
  const resp = await fetch(`${BASE}/v1/logs/default/events`, {
    method: "POST",
    headers: { Authorization: `Bearer ${WRITER}`, "Content-Type": "application/json" },
    body: JSON.stringify([{ action: "live.one", actor: "dave" }, { action: "live.two", actor: "erin" }]),
  });
  check(resp.status === 201, `appended: ${resp.status}`);
  await page.waitForFunction(() => document.querySelectorAll("#events tr.row").length >= 2, null, { timeout: 15000 });
  const live = await page.$$eval("#events tr.row td:nth-child(3)", (tds) => tds.map((t) => t.textContent));
  check(live.includes("live.one") && live.includes("live.two"), `live rows: ${live}`);
  await page.screenshot({ path: `${SHOTS}/events-live.png` });
  console.log("ok: live tail");

  // Per-actor timelines: from an actor's ⏱ link, bob's failures in time
  // order; frank's two events three hours apart show the pause.
  await page.goto(`${BASE}/#/events?log=default&actor=bob`);
  await page.waitForSelector("#events tr.row a.tl");
  await page.click("#events tr.row >> nth=0 >> a.tl");
  await page.waitForSelector("section.timeline[data-actor=bob]");
  const bobHead = await page.textContent("section.timeline[data-actor=bob] h3");
  check(bobHead.startsWith("bob: 20 events, 20 failures"), `bob's timeline: ${bobHead}`);
  check((await page.$$("section.timeline[data-actor=bob] tr.row.failed")).length === 20, "failures marked");
  check((await page.$$("section.timeline")).length === 1, "one actor");
  const frank = await fetch(`${BASE}/v1/logs/default/events`, {
    method: "POST",
    headers: { Authorization: `Bearer ${WRITER}`, "Content-Type": "application/json" },
    body: JSON.stringify([
      { action: "file.modify", actor: "frank", time: "2026-01-01T03:05:00Z", outcome: "success", target: { id: "/etc/sudoers" } },
      { action: "auth.login", actor: "frank", time: "2026-01-01T00:00:00Z", outcome: "success" },
    ]),
  });
  check(frank.status === 201, `appended: ${frank.status} ${await frank.text()}`);
  let frankRows = 0;
  for (let i = 0; i < 50 && frankRows < 2; i++) {
    await page.goto(`${BASE}/#/timeline?log=default&actor=frank&r=${i}`);
    await page.waitForSelector("#timeline-status:not(:empty)");
    frankRows = (await page.$$("section.timeline[data-actor=frank] tr.row")).length;
    if (frankRows < 2) await new Promise((r) => setTimeout(r, 200));
  }
  check(frankRows === 2, `frank's events: ${frankRows}`);
  const order = await page.$$eval("section.timeline[data-actor=frank] tr.row td:nth-child(4)", (t) => t.map((x) => x.textContent));
  check(order.join(",") === "auth.login,file.modify", `in time order, not append order: ${order}`);
  const pause = await page.textContent("section.timeline[data-actor=frank] tr.gap");
  check(pause.includes("3h05m without activity"), `the pause: ${pause}`);
  await page.screenshot({ path: `${SHOTS}/timeline.png`, fullPage: true });
  console.log("ok: timeline");

  // A review, recorded in the console.
  await page.goto(`${BASE}/#/reviews`);
  await page.waitForSelector("#coverage tr");
  await page.selectOption("#r-log", "default");
  await page.fill("#r-note", "daily review: failed logins of bob checked");
  await page.fill("#r-findings", "bob locked out; no escalation");
  await page.click("#review button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#r-result").textContent.startsWith("Recorded"));
  await page.waitForFunction(() => {
    const r = document.querySelector('#coverage tr[data-log="default"]');
    return r && r.children[2].textContent === "none";
  }, null, { timeout: 15000 });
  await page.screenshot({ path: `${SHOTS}/reviews.png` });
  console.log(`ok: review recorded: ${await page.textContent("#r-result")}`);

  // Charts: the figures under each chart are the counts the log holds.
  await page.goto(`${BASE}/#/charts?log=default`);
  await page.waitForSelector("#chart-hourly canvas");
  await page.waitForSelector("#figures-sources", { state: "attached" });
  const srcSum = await page.$$eval("#figures-sources tr td:nth-child(2)", (t) => t.reduce((a, x) => a + Number(x.textContent), 0));
  check(srcSum === 20, `20 failed logins by source, got ${srcSum}`);
  const bob = await page.$$eval("#figures-actors tr", (rows) => rows.map((r) => [r.children[0].textContent, r.children[1].textContent]));
  check(bob.some(([a, n]) => a === "bob" && n === "20"), `bob 20 in top actors: ${JSON.stringify(bob)}`);
  check((await page.$$("#chart-sources canvas")).length === 1 && (await page.$$("#chart-actors canvas")).length === 1, "three charts drawn");
  await page.screenshot({ path: `${SHOTS}/charts.png`, fullPage: true });
  console.log("ok: charts");


  // An alert acknowledged, with a note.
  await page.goto(`${BASE}/#/alerts`);
  await page.waitForSelector("#alerts tr[data-index] form.ack-form");
  await page.fill("#alerts tr[data-index] form.ack-form input", "bob locked out; password reset");
  await page.click("#alerts tr[data-index] form.ack-form button");
  await page.waitForFunction(() => document.querySelector("#alerts tr[data-index] td.ack").textContent.includes("alice-auditor"));
  await page.screenshot({ path: `${SHOTS}/alerts.png` });
  console.log("ok: alert acknowledged");

  // The period report, opened from the console's Report page (it counts
  // the alert just acknowledged).
  await page.goto(`${BASE}/#/report`);
  await page.waitForSelector("#report-html");
  const report = await ctx.newPage();
  await report.goto(BASE + (await page.getAttribute("#report-html", "href")));
  await report.waitForSelector("h1");
  check((await report.textContent("h1")).includes("Audit log report: default"), "the report opens");
  check((await report.textContent("body")).includes("Integrity verdict: ok"), "its verdict is ok");
  await report.screenshot({ path: `${SHOTS}/report.png`, fullPage: true });
  await report.close();
  console.log("ok: report");

  // Integrity: the last verify (run by the test) and each log's newest
  // checkpoints.
  await page.goto(`${BASE}/#/integrity`);
  await page.waitForSelector("#integrity-verify");
  const verified = await page.textContent("#integrity-verify");
  check(verified.includes("OK"), `last verify shown: ${verified}`);
  const newest = await page.getAttribute("section[data-log=default] table.history tbody tr >> nth=0", "data-size");
  const latest = await page.getAttribute("section[data-log=default]", "data-size");
  check(Number(newest) === Number(latest) && Number(latest) >= 61, `newest checkpoint first: ${newest} of ${latest}`);
  check((await page.textContent("section[data-log=default]")).includes("append-only"), "immutability flags shown");
  await page.screenshot({ path: `${SHOTS}/integrity.png`, fullPage: true });
  console.log("ok: integrity");
  const admin = await (await browser.newContext()).newPage();
  await signIn(admin, BASE, ADMIN);
  await admin.waitForSelector("#main p");
  await admin.goto(`${BASE}/#/tokens`);
  await admin.waitForSelector("#tokens tr");
  await admin.screenshot({ path: `${SHOTS}/tokens.png` });

  // Through a proxy that flips a byte of the stored entry: red.
  const proxy = await tamperingProxy(BASE);
  const pbase = `http://127.0.0.1:${proxy.address().port}`;
  const bad = await (await browser.newContext()).newPage();
  await signIn(bad, pbase, AUDITOR);
  await bad.waitForSelector("#events tr.row");
  await bad.click("#events tr.row >> nth=0");
  await bad.waitForSelector("#badge[data-verified]");
  const red = await bad.textContent("#badge");
  check((await bad.getAttribute("#badge", "data-verified")) === "false", `refused: ${red}`);
  check((await bad.getAttribute("#badge", "data-core")) === "false", `refused by veritrail-core (WebAssembly) too: ${red}`);
  check(red.includes("WebCrypto verifier:") && red.includes("veritrail-core (WebAssembly):"), `each verifier says why: ${red}`);
  check((await bad.getAttribute("#badge", "class")).includes("bad"), "the badge is red");
  check(red.includes("NOT VERIFIED"), red);
  await bad.screenshot({ path: `${SHOTS}/event-tampered.png`, fullPage: true });
  console.log(`ok: tampered entry refused: ${red}`);
  proxy.close();
  check(cspViolations.length === 0, `no CSP violations: ${cspViolations}`);
  console.log(`timings ${JSON.stringify(timings)}`);
} catch (e) {
  console.error(e.stack || String(e));
  exitCode = 1;
} finally {
  await browser.close();
}
process.exit(exitCode);
