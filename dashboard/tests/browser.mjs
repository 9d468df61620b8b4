// The dashboard in a real browser (Chromium, headless, driven by playwright-core), against a
// running `helios dev` that tests/dashboard.rs started and seeded through the public API.
//
//   HELIOS_URL           the server (http://127.0.0.1:PORT)
//   HELIOS_ADMIN_KEY     an admin key; HELIOS_READ_KEY a read key
//   HELIOS_ACK_DECISION  a decision whose workflow waits for an acknowledgement
//   HELIOS_XSS_SUBJECT   the subject of the seeded event whose strings are attacks
//   HELIOS_CHROMIUM      the browser (default /usr/bin/chromium)
//   HELIOS_SCREENSHOTS   where the screenshots go (every page at 375 and 1440 px wide)
//
// Exits non-zero with a message on the first check that fails.

import { chromium } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const need = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const url = need("HELIOS_URL");
const adminKey = need("HELIOS_ADMIN_KEY");
const readKey = need("HELIOS_READ_KEY");
const ackDecision = need("HELIOS_ACK_DECISION");
const xssSubject = need("HELIOS_XSS_SUBJECT");
const shots = process.env.HELIOS_SCREENSHOTS ?? "screenshots";
mkdirSync(shots, { recursive: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const checks = [];
function check(ok, what) {
  if (!ok) throw new Error(`FAILED: ${what}`);
  checks.push(what);
  console.log(`ok - ${what}`);
}

const browser = await chromium.launch({
  executablePath: process.env.HELIOS_CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox"],
});

/** A page signed in with `key` at `width`, failing the run on any script error or CSP report. */
async function signedIn(key, width, { bypassCSP = false } = {}) {
  const context = await browser.newContext({ viewport: { width, height: 900 }, bypassCSP });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/status of 40[19]/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on("dialog", (d) => {
    problems.push(`a dialog opened: ${d.message()}`);
    void d.dismiss();
  });
  await page.goto(`${url}/#/live`);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("status").filter({ hasText: "live" }).waitFor({ timeout: 10_000 });
  return { context, page, problems };
}

async function shoot(page, name, width) {
  await page.screenshot({ path: join(shots, `${name}-${width}.png`), fullPage: true });
}

async function noHorizontalScroll(page, width, what) {
  const scroll = await page.evaluate(() => document.documentElement.scrollWidth);
  check(scroll <= width + 1, `${what} fits ${width} px (scroll width ${scroll})`);
}

async function post(path, body, key = adminKey) {
  const r = await fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
}

async function getJson(path, key = adminKey) {
  const r = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${key}` } });
  return { status: r.status, body: await r.json() };
}

try {
  // --- The sign-in page, and the headers every file is served with.
  {
    const r = await fetch(`${url}/`);
    const csp = r.headers.get("content-security-policy") ?? "";
    check(/script-src 'self'/.test(csp) && !/unsafe-inline/.test(csp), `a strict Content-Security-Policy: ${csp}`);
    const html = await r.text();
    check(!/<script>[^<]/.test(html) && !/ on[a-z]+=/.test(html), "index.html has no inline script or handler");
    for (const width of [375, 1440]) {
      const context = await browser.newContext({ viewport: { width, height: 900 } });
      const page = await context.newPage();
      await page.goto(`${url}/`);
      await page.getByLabel("API key").waitFor();
      await shoot(page, "sign-in", width);
      await context.close();
    }
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${url}/`);
    await page.getByLabel("API key").fill("hk_not_a_key_at_all_000000000000");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").waitFor();
    check((await page.getByRole("alert").textContent()).includes("not valid"), "a wrong key is refused with a message");
    check(!page.url().includes("hk_"), "the key is never put in the address");
    await context.close();

    // A one-time sign-in link: it signs in once, the ticket leaves the address, and the
    // same link opened again signs nobody in.
    const ticket = await post("/v1/session/tickets", {});
    check(ticket.status === 201 && /^st_[0-9a-f]{32}$/.test(ticket.body.ticket), `a sign-in ticket is made (${ticket.status})`);
    const link = `${url}/#/sign-in?ticket=${ticket.body.ticket}`;
    const first = await browser.newContext();
    const p1 = await first.newPage();
    await p1.goto(link);
    await p1.getByRole("status").filter({ hasText: "live" }).waitFor({ timeout: 10_000 });
    check(!p1.url().includes("st_") && p1.url().endsWith("#/live"), `the ticket leaves the address (${p1.url()})`);
    check((await p1.evaluate(() => sessionStorage.getItem("helios.key"))) === adminKey, "the link's key is kept in the tab");
    await first.close();
    const second = await browser.newContext();
    const p2 = await second.newPage();
    await p2.goto(link);
    await p2.getByLabel("API key").waitFor();
    check((await p2.evaluate(() => sessionStorage.getItem("helios.key"))) === null, "the same link does not sign in twice");
    await second.close();
  }

  for (const width of [1440, 375]) {
    const { context, page, problems } = await signedIn(adminKey, width);
    check(!page.url().includes(adminKey), `the key is not in the address (${width} px)`);
    const kept = await page.evaluate(() => ({ session: sessionStorage.getItem("helios.key"), local: localStorage.length }));
    check(kept.session === adminKey && kept.local === 0, "the key is kept in sessionStorage, not localStorage");

    // --- Live: the seeded events are there; one posted now appears.
    await page.locator("table.feed tbody tr").first().waitFor();
    const families = await page.locator(".fam-count").allTextContents();
    check(families.reduce((n, c) => n + Number(c), 0) > 0, `counts per source family (${families.join(",")})`);
    const id = `browser-${width}-${Date.now()}`;
    const sentAt = Date.now();
    const sent = await post("/v1/events", {
      id, source: "ci/buildkite", type: "ci.build.finished", subject: `live-check-${width}`,
      time: new Date().toISOString(), data: { branch: "feature", state: "passed" },
    });
    check(sent.status === 202, `an event is accepted (${sent.status})`);
    const helios = sent.body.events[0].id;
    const shown = await page
      .locator(`tr[data-event="${helios}"]`)
      .waitFor({ timeout: 5_000 })
      .then(() => Date.now() - sentAt, () => null);
    check(shown !== null, `an event posted during the test appears on the Live page (after ${shown} ms)`);
    await page.getByText("Refused requests").waitFor();
    await shoot(page, "live", width);
    await noHorizontalScroll(page, width, "Live");

    // --- Attacker-controlled strings are text, never HTML, never a script.
    await page.goto(`${url}/#/timeline/${encodeURIComponent(xssSubject)}`);
    await page.locator("ol.timeline li").first().waitFor();
    await page.goto(`${url}/#/live`);
    await page.locator("table.feed tbody tr").first().waitFor();
    const xss = await page.evaluate(() => ({
      flag: window.__xss ?? null,
      imgs: document.querySelectorAll("img").length,
      scripts: [...document.scripts].filter((s) => !s.src).length,
      js: [...document.querySelectorAll("a[href]")].filter((a) => !/^(#|https?:)/.test(a.getAttribute("href"))).length,
    }));
    check(xss.flag === null && xss.imgs === 0 && xss.scripts === 0 && xss.js === 0, `attacks in event strings execute nothing (${JSON.stringify(xss)})`);
    check((await page.locator("table.feed").textContent()).includes("<script>"), "an attack string shows as text");

    // --- Decisions: the list, filtered; a decision's page with its explanation.
    await page.getByRole("link", { name: "Decisions" }).click();
    await page.locator("table.list tbody tr").first().waitFor();
    await shoot(page, "decisions", width);
    await noHorizontalScroll(page, width, "Decisions");
    await page.getByLabel("Rule").fill("ci-failing-on-main");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.waitForFunction(() => location.hash.includes("rule=ci-failing-on-main"));
    // The list shown until the filtered one has loaded is the unfiltered one: wait for it.
    await page
      .waitForFunction(() => {
        const cells = [...document.querySelectorAll("table.list tbody td:nth-child(4)")];
        return cells.length > 0 && cells.every((td) => td.textContent.includes("ci-failing-on-main"));
      }, null, { timeout: 10_000 })
      .catch(() => {});
    const rules = await page.locator("table.list tbody td:nth-child(4)").allTextContents();
    check(rules.length > 0 && rules.every((r) => r.includes("ci-failing-on-main")), `the list is filtered by rule (${rules.length})`);
    await page.locator("table.list tbody a").first().click();
    await page.locator("h2.explanation").waitFor();
    const explanation = await page.locator("h2.explanation").textContent();
    check(explanation.includes("failed 3 times"), `a decision's page says why: ${explanation}`);
    const meta = await page.locator("section.headline p.muted").first().textContent();
    check(/· trace [0-9a-f]{32}/.test(meta), `a decision's page names its trace: ${meta}`);
    await page.getByText("Near misses").waitFor();
    await shoot(page, "decision", width);
    await noHorizontalScroll(page, width, "a decision");

    // --- Executions: the list, and one drawn from its definition, coloured by its history.
    await page.getByRole("link", { name: "Executions" }).click();
    await page.locator("table.list tbody tr").first().waitFor();
    await shoot(page, "executions", width);
    await noHorizontalScroll(page, width, "Executions");
    await page.goto(`${url}/#/executions?status=SUCCEEDED`);
    await page.waitForFunction(() => {
      const cells = [...document.querySelectorAll("table.list tbody td:nth-child(3)")];
      return cells.length > 0 && cells.every((td) => td.textContent.includes("SUCCEEDED"));
    }, null, { timeout: 10_000 });
    await page.locator("table.list tbody a").first().click();
    await page.locator("svg g.state").first().waitFor();
    const drawn = await page.locator("svg g.state").evaluateAll((gs) => gs.map((g) => g.getAttribute("data-status")));
    check(drawn.length >= 4 && drawn.includes("succeeded") && drawn.includes("none"), `an execution's states are drawn and coloured (${drawn.join(",")})`);
    const history = await page.locator("table.history tbody tr").count();
    check(history > 3, `its history is listed (${history} events)`);
    await shoot(page, "execution", width);
    await noHorizontalScroll(page, width, "an execution");

    // --- Timeline, with its scrubber.
    await page.goto(`${url}/#/timeline/${encodeURIComponent("acme/web")}`);
    await page.locator("ol.timeline li").first().waitFor();
    const all = await page.locator("ol.timeline li").count();
    await shoot(page, "timeline", width);
    await noHorizontalScroll(page, width, "Timeline");
    await page.getByLabel("Move through time").fill("0");
    const first = await page.locator("ol.timeline li").count();
    check(all > 1 && first === 1, `the scrubber shows what was known then (${first} of ${all})`);

    // --- Stats: what fires most, nearly fires, never fires.
    await page.getByRole("link", { name: "Stats" }).click();
    await page.locator("table.ranking").first().waitFor();
    const firing = await page.locator("#h-fired + table").textContent();
    check(firing.includes("ci-failing-on-main") && firing.includes("cloud-alarm"), `the rules that fire most (${firing})`);
    const neverPanel = page.locator("section[aria-labelledby=h-never]");
    await neverPanel.locator("ul, p:not(:has-text('Reading'))").first().waitFor();
    const never = await neverPanel.textContent();
    check(never.includes("deploy-failed"), `and those that never fired (${never})`);
    // The service level objectives, with the events decided in time over each window.
    const sloRow = page.locator('table.slo tr[data-slo="event_to_decision"]');
    await sloRow.waitFor();
    const slo = await sloRow.textContent();
    check(/Events decided within 5s/.test(slo) && /\d %/.test(slo), `the objectives are shown (${slo})`);
    await page.locator("svg.stacked rect").first().waitFor();
    await shoot(page, "stats", width);
    await noHorizontalScroll(page, width, "Stats");

    // --- Rules: the set, and an event tried against it.
    await page.getByRole("link", { name: "Rules" }).click();
    await page.locator("table.list tbody tr").first().waitFor();
    const ruleRows = await page.locator("table.list tbody tr").count();
    check(ruleRows >= 5, `the loaded rules are listed (${ruleRows})`);
    await page.getByRole("button", { name: "Decide" }).click();
    await page.locator(".try-explanation").waitFor();
    const tried = await page.locator(".try-explanation").textContent();
    check(tried.includes("Alarm api-5xx went into ALARM"), `an event tried on the rules is decided: ${tried}`);
    await shoot(page, "rules", width);
    await noHorizontalScroll(page, width, "Rules");

    // --- Expectations: the open one of the deploy that has not finished.
    await page.getByRole("link", { name: "Expectations" }).click();
    await page.locator("table.open-expectations tbody tr").first().waitFor();
    const open = await page.locator("table.open-expectations").textContent();
    check(open.includes("deploy-finishes"), `an open expectation with its deadline (${open.slice(0, 120)})`);
    await shoot(page, "expectations", width);
    await noHorizontalScroll(page, width, "Expectations");

    // --- Dead letters: the seeded one is there (the button is tried once, below).
    await page.getByRole("link", { name: "Dead letters" }).click();
    await page.locator(".dlq-depth").first().waitFor();
    const depths = await page.locator(".dlq-depth").allTextContents();
    check(depths.includes("1"), `a dead letter is shown (${depths.join(",")})`);
    await shoot(page, "dead-letters", width);
    await noHorizontalScroll(page, width, "Dead letters");

    // --- Schemas: the subjects with their violations, the quarantine, a subject's history
    // and the diff between its versions.
    await page.getByRole("link", { name: "Schemas" }).click();
    await page.locator("table.subjects tbody tr").first().waitFor();
    const subjects = await page.locator("table.subjects").textContent();
    check(subjects.includes("invoice.paid") && subjects.includes("quarantine"), `the subjects are listed with their policy (${subjects.slice(0, 160)})`);
    await page.locator("table.held tbody tr").first().waitFor();
    const heldRows = await page.locator("table.held tbody tr").count();
    check(heldRows === 2, `the quarantine lists the two held invoices (${heldRows})`);
    check((await page.locator("table.held").textContent()).includes("/status"), "each held fact shows the pointer of its violation");
    await shoot(page, "schemas", width);
    await noHorizontalScroll(page, width, "Schemas");
    await page.getByRole("link", { name: "invoice.paid" }).first().click();
    await page.locator("table.versions tbody tr").first().waitFor();
    const versionRows = await page.locator("table.versions tbody tr").count();
    check(versionRows === 2, `a subject's version history (${versionRows})`);
    await page.locator("table.changes tbody tr").first().waitFor();
    const changes = await page.locator("table.changes").textContent();
    check(changes.includes("/properties/status/enum") && changes.includes("widened"), `the diff viewer shows what changed where (${changes})`);
    await shoot(page, "schema", width);
    await noHorizontalScroll(page, width, "a schema subject");

    check(problems.length === 0, `no script error, CSP report or dialog (${problems.join("; ")})`);
    await context.close();
  }

  // --- A read key sees, but its acknowledge button says it may not.
  {
    const { context, page, problems } = await signedIn(readKey, 1440);
    await page.goto(`${url}/#/decisions/${encodeURIComponent(ackDecision)}`);
    const button = page.getByRole("button", { name: "Acknowledge" });
    await button.waitFor();
    check(await button.isDisabled(), "a read key's acknowledge button is disabled");
    check((await page.locator(".actions").textContent()).includes("may not"), "and says why");
    await page.goto(`${url}/#/dead-letters`);
    const redrive = page.getByRole("button", { name: "Redrive to decide" });
    await redrive.waitFor();
    check(await redrive.isDisabled(), "a read key's redrive button is disabled");
    await page.goto(`${url}/#/expectations`);
    const replay = page.getByRole("button", { name: "Replay" });
    await replay.waitFor();
    check(await replay.isDisabled(), "a read key's replay button is disabled");
    check(problems.length === 0, `no script error (${problems.join("; ")})`);
    await context.close();
  }

  // --- A read key may not release a held fact; an admin releases one and drops the other.
  {
    const { context, page } = await signedIn(readKey, 1440);
    await page.goto(`${url}/#/schemas`);
    await page.locator("table.held tbody tr").first().waitFor();
    check(await page.getByRole("button", { name: "Release" }).first().isDisabled(), "a read key's release button is disabled");
    await context.close();
  }
  {
    const { context, page } = await signedIn(adminKey, 1440);
    await page.goto(`${url}/#/schemas`);
    await page.locator("table.held tbody tr").first().waitFor();
    await page.getByRole("button", { name: "Release" }).first().click();
    await page.locator("p.ok").waitFor();
    await page.waitForFunction(() => document.querySelectorAll("table.held tbody tr").length === 1);
    await page.getByRole("button", { name: "Drop" }).first().click();
    await page.getByText("Nothing is held.").waitFor();
    const after = await getJson("/v1/quarantine?status=all");
    const statuses = after.body.held.map((h) => h.status).sort().join(",");
    check(statuses === "dropped,released", `the API then says one was released and one dropped (${statuses})`);
    await context.close();
  }

  // --- An admin acknowledges from the button; the API then says so.
  {
    const { context, page } = await signedIn(adminKey, 1440);
    await page.goto(`${url}/#/decisions/${encodeURIComponent(ackDecision)}`);
    await page.getByRole("button", { name: "Acknowledge" }).click();
    await page.getByText("Acknowledged").first().waitFor({ timeout: 10_000 });
    const d = await getJson(`/v1/decisions/${encodeURIComponent(ackDecision)}`);
    check(d.body.outcomes.some((o) => o.kind === "acknowledged"), "acknowledging from the button is recorded");
    await page.goto(`${url}/#/dead-letters`);
    await page.getByRole("button", { name: "Redrive to decide" }).click();
    await page.getByText("1 moved back to decide").waitFor({ timeout: 10_000 });
    const dead = await getJson("/v1/dead-letters");
    check(dead.body.queues.find((q) => q.queue === "decide").visible === 0, "redriving from the button empties the dead-letter queue");
    await page.goto(`${url}/#/expectations`);
    await page.getByRole("button", { name: "Replay" }).click();
    await page.getByText("events published again").waitFor({ timeout: 10_000 });
    const replayed = await page.getByText("events published again").textContent();
    check(Number(replayed.split(" ")[0]) > 0, `replaying from the button publishes the range again (${replayed})`);
    await context.close();
  }

  // --- The Missed and Mismatched panels, with what the expect plane emitted for the seed.
  {
    const { context, page, problems } = await signedIn(readKey, 1440);
    await page.goto(`${url}/#/expectations`);
    // The timeline of the heartbeat that stopped: what was expected of it as of each moment.
    await page.goto(`${url}/#/timeline/${encodeURIComponent("svc/payments")}`);
    const waitingPanel = page.locator("section[aria-labelledby=h-waiting]");
    await page.locator("ol.timeline li").first().waitFor();
    // Back to the moment of the beat (the newest item known then is the beat itself).
    const max = Number(await page.getByLabel("Move through time").getAttribute("max"));
    for (let i = 0; i <= max; i++) {
      await page.getByLabel("Move through time").fill(String(i));
      if ((await page.locator("ol.timeline li").first().textContent()).includes("event heartbeat")) break;
    }
    const atBeat = await waitingPanel.textContent();
    check(atBeat.includes("test-heartbeat") && atBeat.includes("svc/payments"), `as of the beat, its next one is expected (${atBeat})`);
    await page.getByLabel("Move through time").fill(String(max));
    const later = await waitingPanel.textContent();
    const wait = await page.locator("ol.timeline li.tl-expectation").filter({ hasText: "test-heartbeat" }).textContent();
    check(!later.includes("test-heartbeat") && wait.includes("missed"), `as of the newest, that wait was missed and is open no more (${wait})`);
    await shoot(page, "timeline-expectations", 1440);
    await page.goto(`${url}/#/expectations`);
    const missed = page.locator("#h-missed").locator("..");
    await missed.getByText("test-heartbeat").waitFor({ timeout: 10_000 });
    check((await missed.textContent()).includes("svc/payments"), "the Missed panel names the heartbeat that stopped and its subject");
    const mismatch = page.locator(".mismatch").filter({ hasText: "test-orders-agree" });
    await mismatch.waitFor({ timeout: 10_000 });
    const head = await mismatch.locator("thead th").allTextContents();
    const row = await mismatch.locator("tbody tr").filter({ hasText: "amount" }).locator("td").allTextContents();
    const values = Object.fromEntries(head.slice(1).map((s, i) => [s, row[i]]));
    check(values.shop === "120" && values.ledger === "102", `the Mismatched panel shows each source's amount side by side (${JSON.stringify(values)})`);
    check(problems.length === 0, `no script error on the expectations page ${problems.join("; ")}`);
    await shoot(page, "expectations-data", 1440);
    await context.close();
  }

  // --- The WebSocket feed, as the dashboard takes it in AWS (config.json names the socket;
  // here helios dev's GET /v1/socket): no stream is opened, the key is not in the socket's
  // address, the newest come first, and an event posted now appears.
  {
    const socketUrl = `${url.replace(/^http/, "ws")}/v1/socket`;
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    await context.route("**/config.json", (r) =>
      r.fulfill({ contentType: "application/json", body: JSON.stringify({ socket: socketUrl }) }),
    );
    const page = await context.newPage();
    const problems = [];
    const streams = [];
    const sockets = [];
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    const healthPolls = [];
    page.on("request", (r) => {
      if (r.url().includes("/v1/stream")) streams.push(r.url());
      if (r.url().endsWith("/v1/health")) healthPolls.push(r.url());
    });
    page.on("websocket", (ws) => sockets.push(ws.url()));
    await page.goto(`${url}/#/live`);
    await page.getByLabel("API key").fill(readKey);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("status").filter({ hasText: "live" }).waitFor({ timeout: 10_000 });
    await page.locator("tr[data-event]").first().waitFor({ timeout: 5_000 });
    const id = `socket-check-${Date.now()}`;
    const sent = await post("/v1/events", {
      id, source: "ci/buildkite", type: "ci.build.finished", subject: "socket-check",
      time: new Date().toISOString(), data: { branch: "feature", state: "passed" },
    });
    const helios = sent.body.events[0].id;
    const t0 = Date.now();
    await page.locator(`tr[data-event="${helios}"]`).waitFor({ timeout: 5_000 });
    check(true, `over the WebSocket feed an event posted now is on the Live page (${Date.now() - t0} ms)`);
    check(streams.length === 0, `no server-sent stream is opened when config.json names a socket (${streams.length})`);
    check(sockets.length === 1 && sockets[0] === socketUrl, `one socket, to ${sockets.join(", ")}, the key not in its address`);
    // The socket carries events and decisions; the health comes from GET /v1/health (the ops
    // function in AWS), asked for at once and every 10 s.
    await page.getByRole("table", { name: "Queues" }).waitFor({ timeout: 5_000 });
    const queueRows = await page.getByRole("table", { name: "Queues" }).locator("tbody tr td:first-child").allTextContents();
    check(
      healthPolls.length >= 1 && queueRows.includes("decide-dlq") && queueRows.includes("outbox"),
      `over the WebSocket feed the Health panel shows each queue from GET /v1/health (${healthPolls.length} asked; ${queueRows.join(", ")})`,
    );
    check(problems.length === 0, `no script error over the socket ${problems.join("; ")}`);
    await shoot(page, "live-socket", 1440);
    await context.close();
  }

  // --- Accessibility: axe-core on every page, no serious or critical violation.
  {
    const { context, page } = await signedIn(adminKey, 1440, { bypassCSP: true });
    for (const [name, hash] of [
      ["Live", "#/live"],
      ["Decisions", "#/decisions"],
      ["Decision", `#/decisions/${encodeURIComponent(ackDecision)}`],
      ["Timeline", `#/timeline/${encodeURIComponent("acme/web")}`],
      ["Executions", "#/executions"],
      ["Stats", "#/stats"],
      ["Rules", "#/rules"],
      ["Expectations", "#/expectations"],
      ["Dead letters", "#/dead-letters"],
      ["Schemas", "#/schemas"],
      ["Schema", "#/schemas/billing/invoice.paid"],
    ]) {
      await page.goto(`${url}/${hash}`);
      await page.waitForTimeout(500);
      await page.evaluate(axeSource);
      const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
      const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
      check(bad.length === 0, `axe-core: ${name} has no serious or critical violation ${bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target).join(" ")}`).join("; ")}`);
    }
    await context.close();
  }
  console.log(`${checks.length} checks passed; screenshots in ${shots}`);
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
} finally {
  await browser.close();
}
