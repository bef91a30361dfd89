// Browser side of bench/console.sh: signs in to the console in chromium and
// prints Markdown rows with the Events page's first page (as the page
// measures it: request to rows drawn) and one event's proof checked by both
// verifiers. Env: BASE, AUDITOR, CHROMIUM, NODE_MODULES (where playwright-core
// is installed).
import { createRequire } from "node:module";

const { BASE, AUDITOR, CHROMIUM, NODE_MODULES } = process.env;
const { chromium } = createRequire(`${NODE_MODULES}/`)("playwright-core");
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await (await browser.newContext()).newPage();
  await page.goto(BASE + "/");
  await page.waitForSelector("#signin");
  await page.fill("#token", AUDITOR);
  await page.click("#signin button[type=submit]");
  const first = [];
  for (let i = 0; i < 5; i++) {
    await page.goto(`${BASE}/#/events?log=default&r=${i}`);
    await page.waitForSelector("#status[data-ms]");
    first.push(Number(await page.getAttribute("#status", "data-ms")));
    await page.evaluate(() => document.getElementById("status").removeAttribute("data-ms"));
  }
  first.sort((a, b) => a - b);
  const index = await page.getAttribute("#events tr.row >> nth=0", "data-index");
  await page.goto(`${BASE}/#/event/default/${index}`);
  await page.waitForSelector("#badge[data-verified]");
  if ((await page.getAttribute("#badge", "data-verified")) !== "true") throw new Error(await page.textContent("#badge"));
  const wc = Number(await page.getAttribute("#badge", "data-ms"));
  const wasm = Number(await page.getAttribute("#badge", "data-core-ms"));
  console.log(`| first page of the timeline, in chromium (median of 5) | ${first[2].toFixed(0)} ms |`);
  console.log(`| one event's proof checked in chromium: WebCrypto / veritrail-core in WebAssembly | ${wc.toFixed(1)} / ${wasm.toFixed(1)} ms |`);
} finally {
  await browser.close();
}
