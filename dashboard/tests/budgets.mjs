// The dashboard's budgets, measured in a real browser (docs/benchmarks.md):
//
//   1. an accepted event is on an open Live page within 500 ms of its 202 (p99) while
//      200 events/s are sent;
//   2. the Live page has no frame over 100 ms while 1,000 events/s are sent;
//   3. a decision's page is interactive (its explanation shown) within 300 ms.
//
//   node tests/budgets.mjs --url http://127.0.0.1:8787 --key hk_… --events events.jsonl \
//        [--seconds 30] [--chromium /usr/bin/chromium] [--assets DIR]
//
// --assets serves the dashboard's files from DIR (a `node build.mjs DIR`) instead of the
// server's embedded ones: a change to the page measured without rebuilding the server.
//
// The events are native envelopes, one JSON object a line (../shared/bench/gen.py makes
// them); each is sent with a fresh id so that every one is accepted. Prints one JSON object.

import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && process.argv[i + 1]) return process.argv[i + 1];
  if (fallback === undefined) throw new Error(`--${name} is required`);
  return fallback;
};
const url = arg("url");
const key = arg("key");
const seconds = Number(arg("seconds", "30"));
const lines = readFileSync(arg("events"), "utf8")
  .split("\n")
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l));
if (lines.length === 0) throw new Error("the events file holds no event");
const run = Date.now().toString(36);
let n = 0;
function nextEvent() {
  const e = { ...lines[n % lines.length] };
  e.id = `budget-${run}-${n}`;
  e.time = new Date().toISOString();
  n += 1;
  return e;
}

async function send(events) {
  const r = await fetch(`${url}/v1/events`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify(events.length === 1 ? events[0] : { events }),
  });
  const body = await r.json();
  if (r.status !== 202) throw new Error(`POST /v1/events answered ${r.status}: ${JSON.stringify(body)}`);
  return body.events.map((e) => e.id);
}

/** Sends `rate` events/s for `seconds`, `batch` per request; calls `accepted(id, at)` on each 202. */
async function traffic(rate, secs, batch, accepted) {
  const start = Date.now();
  let sent = 0;
  const pending = new Set();
  while (Date.now() - start < secs * 1000) {
    const owed = Math.floor(((Date.now() - start) / 1000) * rate);
    while (sent + batch <= owed) {
      const events = Array.from({ length: batch }, nextEvent);
      sent += batch;
      const p = send(events).then((ids) => {
        const at = Date.now();
        for (const id of ids) accepted(id, at);
      });
      pending.add(p);
      p.finally(() => pending.delete(p));
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.all(pending);
  return sent;
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : null;
};

const browser = await chromium.launch({ executablePath: arg("chromium", "/usr/bin/chromium"), headless: true, args: ["--no-sandbox"] });
const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
await context.addInitScript((k) => sessionStorage.setItem("helios.key", k), key);
// When a decision's explanation first shows, on the page's own clock (from navigation).
await context.addInitScript(() => {
  new MutationObserver(() => {
    if (window.__explained === undefined && document.querySelector("h2.explanation")) window.__explained = performance.now();
  }).observe(document, { childList: true, subtree: true });
});
const assets = arg("assets", "");
if (assets) {
  const types = { "index.html": "text/html", "app.js": "text/javascript", "app.css": "text/css" };
  await context.route(/\/(app\.js|app\.css|index\.html)?(\?.*)?(#.*)?$/, (route) => {
    const name = new URL(route.request().url()).pathname.slice(1) || "index.html";
    if (!types[name]) return route.continue();
    return route.fulfill({ body: readFileSync(`${assets}/${name}`), contentType: types[name] });
  });
}
const page = await context.newPage();
const result = { url, seconds, events_file: arg("events") };
try {
  await page.goto(`${url}/#/live`);
  await page.getByRole("status").filter({ hasText: "live" }).waitFor({ timeout: 15_000 });
  // Every event that appears in the feed, with the time it appeared (the page's clock is this
  // machine's, as the sender's is). The feed keeps its rows and rewrites them, so an event
  // appears as a row added or as a row's `data-event` changed to it.
  await page.evaluate(() => {
    window.__seen = new Map();
    const saw = (node, at) => {
      if (node instanceof HTMLElement && node.dataset.event && !window.__seen.has(node.dataset.event)) window.__seen.set(node.dataset.event, at);
    };
    new MutationObserver((records) => {
      const at = Date.now();
      for (const r of records) {
        if (r.type === "attributes") saw(r.target, at);
        for (const node of r.addedNodes) saw(node, at);
      }
    }).observe(document.querySelector("table.feed tbody") ?? document.body, {
      childList: true,
      subtree: true,
      attributes: true,
      attributeFilter: ["data-event"],
    });
  });

  // 1. Arrival on the Live page at 200 events/s.
  const accepted = new Map();
  const sent200 = await traffic(200, seconds, 1, (id, at) => accepted.set(id, at));
  await page.waitForTimeout(2000);
  const seen = new Map(await page.evaluate(() => [...window.__seen.entries()]));
  const latencies = [];
  let missing = 0;
  for (const [id, at] of accepted) {
    const shown = seen.get(id);
    if (shown === undefined) missing += 1;
    else latencies.push(Math.max(0, shown - at));
  }
  result.live_200 = {
    sent: sent200,
    accepted: accepted.size,
    not_shown: missing,
    p50_ms: pct(latencies, 50),
    p99_ms: pct(latencies, 99),
    max_ms: pct(latencies, 100),
    budget_p99_ms: 500,
  };

  // 2. Frames at 1,000 events/s (batches of 10 a request): the longest gap between frames.
  await page.evaluate(() => {
    window.__longtasks = [];
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) window.__longtasks.push(e.duration);
    }).observe({ type: "longtask", buffered: false });
    window.__frames = [];
    let last = performance.now();
    const tick = (t) => {
      window.__frames.push(t - last);
      last = t;
      if (window.__frames.length < 1e6) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  const sent1000 = await traffic(1000, seconds, 10, () => {});
  const frames = await page.evaluate(() => window.__frames.splice(0));
  const longtasks = await page.evaluate(() => window.__longtasks.splice(0));
  result.live_1000 = {
    sent: sent1000,
    frames: frames.length,
    p99_frame_ms: pct(frames, 99),
    longest_frame_ms: pct(frames, 100),
    frames_over_100_ms: frames.filter((f) => f > 100).length,
    long_tasks: longtasks.length,
    longest_task_ms: pct(longtasks, 100),
    budget_longest_frame_ms: 100,
  };

  // 3. A decision's page, loaded cold: from navigation to its explanation on screen.
  const list = await (await fetch(`${url}/v1/decisions?order=newest&limit=1000`, { headers: { authorization: `Bearer ${key}` } })).json();
  const ids = list.decisions.filter((d) => d.rules.length > 0).map((d) => d.id).slice(0, 10);
  const loads = [];
  for (const id of ids) {
    const p = await context.newPage();
    await p.goto(`${url}/#/decisions/${encodeURIComponent(id)}`);
    await p.locator("h2.explanation").waitFor();
    loads.push(await p.evaluate(() => window.__explained));
    await p.close();
  }
  result.decision_page = { pages: loads.length, p50_ms: pct(loads, 50), max_ms: pct(loads, 100), budget_ms: 300 };
  console.log(JSON.stringify(result, null, 2));
} finally {
  await browser.close();
}
