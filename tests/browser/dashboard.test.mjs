// The county dashboard in a real browser: `hongxin up` on a temporary data
// directory and free ports, a few records made through the public APIs, the
// page loaded in Debian's chromium, its figures checked against
// /api/v1/overview, the language switched, and one Open311 report seen on the
// page without a reload.
//
//   HONGXIN_BIN=target/debug/hongxin node --test tests/browser/
//
// Screenshots go to target/browser/.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";

import { chromium } from "playwright-core";
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = path.resolve(ROOT, process.env.HONGXIN_BIN || "target/debug/hongxin");
const ARTIFACTS = path.join(ROOT, "target/browser");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

/** `n` distinct free TCP ports on 127.0.0.1. */
async function freePorts(n) {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => resolve(s));
  })));
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** A valid GB 11643 ID number of 齐河县 (371425) with sequence `seq`. */
function idNumber(seq) {
  const body = `37142519950505${String(seq).padStart(3, "0")}`;
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...body].reduce((n, d, i) => n + Number(d) * weights[i], 0);
  return body + "10X98765432"[sum % 11];
}

async function until(what, check, timeoutMs = 10000, everyMs = 100) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`);
    await sleep(everyMs);
  }
}

const get = (o, p) => p.split(".").reduce((v, k) => (v == null ? undefined : v[k]), o);

let server; // the hongxin process
let dataDir;
let http; // http://127.0.0.1:<port>
let grpcPorts;
let browser;
let clients = [];
let token; // a county administrator's, for commands

const alive = () => server && server.exitCode === null && server.signalCode === null;

/** SIGTERM (the server drains), then SIGKILL if it is still there after 8 s. */
async function stopServer() {
  if (!alive()) return;
  const exited = new Promise((resolve) => server.once("exit", resolve));
  server.kill("SIGTERM");
  if (await Promise.race([exited.then(() => true), sleep(8000).then(() => false)])) return;
  server.kill("SIGKILL");
  await exited;
}
// Whatever happens to this script, the server goes with it.
process.on("exit", () => { if (alive()) server.kill("SIGKILL"); });
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => { if (alive()) server.kill("SIGKILL"); process.exit(130); });
}

before(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  dataDir = await mkdtemp(path.join(os.tmpdir(), "hongxin-browser-"));
  const [organization, pipeline, grid, care, projection, port] = await freePorts(6);
  grpcPorts = { organization, grid };
  http = `http://127.0.0.1:${port}`;
  const log = createWriteStream(path.join(ARTIFACTS, "hongxin.log"));
  const env = {
      ...process.env,
      HONGXIN_DATA_DIR: dataDir,
      HONGXIN_HOST: "127.0.0.1",
      HONGXIN_PORTS__ORGANIZATION: String(organization),
      HONGXIN_PORTS__PIPELINE: String(pipeline),
      HONGXIN_PORTS__GRID: String(grid),
      HONGXIN_PORTS__CARE: String(care),
      HONGXIN_PORTS__PROJECTION: String(projection),
      HONGXIN_PORTS__INTEGRATION: "0",
      HONGXIN_PORTS__HTTP: String(port),
      HONGXIN_TELEMETRY__LOG_FORMAT: "json",
      HONGXIN_SHUTDOWN_GRACE_SECONDS: "2",
  };
  server = spawn(BIN, ["up"], { cwd: dataDir, env, stdio: ["ignore", "pipe", "pipe"] });
  server.stdout.pipe(log);
  server.stderr.pipe(log);
  const exited = new Promise((_, reject) => server.once("exit", (code, signal) =>
    reject(new Error(`hongxin up exited early (${code ?? signal}); see target/browser/hongxin.log`))));
  exited.catch(() => {});
  await Promise.race([
    exited,
    until("the dashboard port", async () => (await fetch(`${http}/api/v1/overview`)).ok, 60000, 200),
  ]);
  // Commands need a token; the system's own local key signs one.
  token = execFileSync(BIN, ["token", "--role", "county_admin", "--subject", "person:browser-test"], {
    cwd: dataDir, env, encoding: "utf8",
  }).trim();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  for (const c of clients) c.close();
  if (browser) await browser.close().catch(() => {});
  await stopServer();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

// gRPC, for what only gRPC can make (categories, grids, people).
function services() {
  const def = protoLoader.loadSync(
    ["hongxin/organization/v1/organization.proto", "hongxin/grid/v1/grid.proto"],
    { includeDirs: [path.join(ROOT, "proto")], keepCase: true, longs: Number, enums: String, defaults: true },
  );
  const pkg = grpc.loadPackageDefinition(def);
  const creds = grpc.credentials.createInsecure();
  const org = new pkg.hongxin.organization.v1.OrganizationService(`127.0.0.1:${grpcPorts.organization}`, creds);
  const grid = new pkg.hongxin.grid.v1.GridService(`127.0.0.1:${grpcPorts.grid}`, creds);
  clients.push(org, grid);
  const call = (client, method) => (request) => new Promise((resolve, reject) => {
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${token}`);
    client[method](request, metadata, { deadline: Date.now() + 10000 }, (err, reply) => (err ? reject(new Error(`${method}: ${err.message}`)) : resolve(reply)));
  });
  return new Proxy({}, {
    get: (_, name) => {
      const [svc, method] = name.split(".");
      return call(svc === "org" ? org : grid, method);
    },
  });
}

async function open311(form) {
  const r = await fetch(`${http}/open311/v2/requests.json`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${token}` },
    body: new URLSearchParams(form).toString(),
  });
  const body = await r.json();
  assert.equal(r.status, 201, `Open311 POST: ${JSON.stringify(body)}`);
  return body[0].service_request_id;
}

async function overview() {
  const r = await fetch(`${http}/api/v1/overview`, { cache: "no-store" });
  assert.equal(r.status, 200);
  return r.json();
}

const settled = (o) => o.contexts.every((c) => c.pending === 0 && !c.gap);

let reporter;
let seededCases = 0;

test("records made through the public APIs reach the overview", async () => {
  const s = services();
  const communities = [["华店社区", "华店镇"], ["晏城社区", "晏城街道"]].map(([name, subdistrict]) => ({ community_id: randomUUID(), name, subdistrict }));
  for (const c of communities) await s["org.RegisterCommunity"](c);
  await s["org.RegisterIndustryCommittee"]({ committee_id: randomUUID(), name: "快递物流行业党委", industry: "INDUSTRY_EXPRESS", lead_department: "县邮政管理局" });
  await s["org.RegisterIndustryCommittee"]({ committee_id: randomUUID(), name: "外卖行业党委", industry: "INDUSTRY_FOOD_DELIVERY", lead_department: "县市场监管局" });
  const enterprises = [
    ["顺丰齐河网点", "INDUSTRY_EXPRESS", "ENTERPRISE_KIND_STATION", 0, "顺丰"],
    ["美团齐河站", "INDUSTRY_FOOD_DELIVERY", "ENTERPRISE_KIND_STATION", 1, "美团"],
    ["齐河直播基地", "INDUSTRY_LIVE_COMMERCE", "ENTERPRISE_KIND_STUDIO", 1, ""],
  ];
  const enterpriseIds = [];
  for (const [name, industry, kind, c, brand] of enterprises) {
    const enterprise_id = randomUUID();
    enterpriseIds.push(enterprise_id);
    await s["org.RegisterEnterprise"]({ enterprise_id, name, industry, kind, community_id: communities[c].community_id, platform_brand: brand, parent_enterprise_id: "" });
  }
  const people = [];
  const work = [["INDUSTRY_EXPRESS", 0, 0], ["INDUSTRY_FOOD_DELIVERY", 1, 1], ["INDUSTRY_FOOD_DELIVERY", 1, 1], ["INDUSTRY_LIVE_COMMERCE", 2, 1]];
  for (const [i, [industry, e, c]] of work.entries()) {
    const person_id = randomUUID();
    people.push(person_id);
    await s["org.RegisterPerson"]({
      person_id, name: `骑手${i + 1}`, id_number: idNumber(i + 1), phone: "",
      work: { industry, platform: "", enterprise_id: enterpriseIds[e], community_id: communities[c].community_id },
      union_member: i % 2 === 0, party_status: "PARTY_STATUS_NONE", affiliation_organization_id: "", mobile_member: false, home_organisation: "",
    });
  }
  reporter = people[0];
  const box = (lng, lat, d) => [[lng, lat], [lng + d, lat], [lng + d, lat + d], [lng, lat + d]].map(([longitude, latitude]) => ({ longitude, latitude }));
  await s["grid.DefineGrid"]({ grid_id: randomUUID(), community_id: communities[0].community_id, name: "华店一网格", polygon: box(116.70, 36.70, 0.05), datum: "DATUM_WGS84", full_time_worker_person_id: "" });
  await s["grid.DefineGrid"]({ grid_id: randomUUID(), community_id: communities[1].community_id, name: "晏城一网格", polygon: box(116.75, 36.78, 0.05), datum: "DATUM_WGS84", full_time_worker_person_id: "" });
  await s["grid.DefineCaseCategory"]({ code: "garbage_pile", name: "垃圾堆放", sla_hours: 24, default_department: "县综合执法局" });
  await s["grid.DefineCaseCategory"]({ code: "elevator_fault", name: "电梯故障", sla_hours: 8, default_department: "县市场监管局" });
  // Points a few hundred metres apart, so none is offered as a duplicate.
  const reports = [["garbage_pile", 36.72, 116.72], ["garbage_pile", 36.79, 116.76], ["garbage_pile", 36.80, 116.77], ["elevator_fault", 36.81, 116.78]];
  for (const [i, [service_code, lat, long]] of reports.entries()) {
    await open311({ service_code, lat, long, description: `上报${i + 1}`, account_id: people[i % people.length] });
    seededCases += 1;
  }
  const o = await until("the seeded records on the overview", async () => {
    const o = await overview();
    return settled(o) && o.mechanism.cases === seededCases && o.people.registered === people.length ? o : false;
  }, 15000, 200);
  assert.equal(o.enterprises_by_community.length, 2);
  assert.equal(o.cases_by_category.length, 2);
});

/** Every figure on the page beside the JSON; the failures, if any. */
async function figuresAgainst(page, o) {
  const shown = await page.$$eval("b[id^='f-']", (els) => els.map((e) => ({ id: e.id, path: e.dataset.path, value: e.dataset.value, text: e.textContent })));
  const problems = [];
  const inForce = (kind) => (o.policy.find((r) => r.kind === kind) || { in_force: 0 }).in_force;
  const derived = {
    "f-orgs": o.party_organizations_by_kind.reduce((n, k) => n + k.organizations, 0),
    "f-pairs": o.capability.development_pairs + o.capability.cultivation_pairs,
    "f-measure": inForce("measure"), "f-action": inForce("action"), "f-system": inForce("system"),
  };
  for (const f of shown) {
    const want = f.path ? get(o, f.path) : derived[f.id];
    if (want === undefined) { problems.push(`${f.id}: no value in the JSON for ${f.path ?? "(derived)"}`); continue; }
    if (f.value !== String(want)) problems.push(`${f.id} (${f.path ?? "derived"}): page ${f.value}, JSON ${want}`);
    const p = f.path ?? "";
    const text = /_rate$|sla_attainment$/.test(p) ? `${want}%`
      : /_fen$/.test(p) ? null // yuan, formatted by locale; the value is checked above
      : String(want);
    if (text !== null && f.text.replace(/[,\s]/g, "") !== text) problems.push(`${f.id}: text "${f.text}" for ${text}`);
  }
  return { count: shown.length, problems };
}

let page;
let liveOffered = false;

test("the page shows every headline figure of the overview, in Chinese by default", async () => {
  const context = await browser.newContext({ viewport: { width: 1600, height: 1000 }, locale: "zh-CN", deviceScaleFactor: 1 });
  page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  const external = [];
  page.on("request", (r) => { if (!r.url().startsWith(http) && !r.url().startsWith("data:")) external.push(r.url()); });
  await page.goto(`${http}/`, { waitUntil: "load" });
  await page.waitForFunction(() => Number(document.body.dataset.renders || 0) >= 1, null, { timeout: 10000 });
  assert.equal(await page.evaluate(() => typeof window.echarts), "object", "ECharts loads from the server itself");
  assert.deepEqual(external, [], "the page asks nothing of the internet");
  assert.equal(await page.getAttribute("html", "lang"), "zh-CN");
  for (const [id, zh] of [["h-organization", "组织引领"], ["h-capability", "能力引领"], ["h-mechanism", "机制引领"], ["h-service", "服务引领"]]) {
    assert.match(await page.textContent(`#${id}`), new RegExp(zh));
  }
  // The figures match the JSON (fetched after the page rendered; retried while anything moves).
  let result;
  await until("the page's figures to match the overview", async () => {
    const o = await overview();
    result = await figuresAgainst(page, o);
    return result.problems.length === 0;
  }, 8000, 300).catch(() => {});
  assert.deepEqual(result?.problems, [], "figures differ from /api/v1/overview");
  assert.ok(result.count >= 60, `every figure is shown (${result.count})`);
  assert.equal(await page.textContent("#f-m_cases"), String(seededCases));
  assert.equal(await page.textContent("#f-registered"), "4");
  // Charts drew with data; tables have rows.
  for (const id of ["chart-coverage", "chart-funnel", "chart-categories"]) {
    assert.ok(await page.locator(`#${id} svg`).count() > 0, `${id} drew`);
  }
  assert.equal(await page.locator("#t-community tbody tr").count(), 2);
  assert.equal(await page.locator("#t-industry tbody tr").count(), 3);
  assert.ok((await page.textContent("#t-industry")).includes("外卖"));
  const o = await overview();
  // Earlier years' duties: a row each, or the one "none" row.
  assert.equal(await page.locator("#t-duties-earlier tbody tr").count(), Math.max(1, o.governance.earlier.length));
  assert.equal(await page.locator("#contexts .ctx").count(), o.contexts.length, "freshness of every context the overview names");
  for (const c of o.contexts) {
    assert.match(await page.textContent(`#contexts .ctx[data-context="${c.context}"]`), new RegExp(`已处理 ${c.position.toLocaleString("zh-CN")} `));
  }
  assert.equal(await page.isVisible("#panel-grids"), Array.isArray(o.cases_by_grid) && o.cases_by_grid.length > 0, "the grid chart shows exactly when the JSON has grids");
  assert.equal(await page.isVisible("#trends"), Array.isArray(o.by_month) && o.by_month.length > 0, "the trend chart shows exactly when the JSON has months");
  // Exports: listed exactly when the server offers them.
  const tables = await fetch(`${http}/api/v1/tables`);
  if (tables.ok) {
    const list = await tables.json();
    await page.waitForSelector("#exports:not([hidden])", { timeout: 5000 });
    assert.equal(await page.locator("#export-list li").count(), list.length);
    const href = await page.getAttribute("#export-list a", "href");
    const csv = await fetch(`${http}${href}`);
    assert.equal(csv.status, 200, `${href} downloads`);
  } else {
    assert.equal(await page.isVisible("#exports"), false);
  }
  assert.deepEqual(errors, [], "no script errors");
  await page.screenshot({ path: path.join(ARTIFACTS, "dashboard.png"), fullPage: true });
});

test("the English switch translates the page and is remembered", async () => {
  await page.click("#lang");
  assert.equal(await page.getAttribute("html", "lang"), "en");
  for (const [id, en] of [["h-organization", "Organization leads"], ["h-capability", "Capability leads"], ["h-mechanism", "Mechanism leads"], ["h-service", "Service leads"]]) {
    assert.match(await page.textContent(`#${id}`), new RegExp(en));
  }
  assert.equal(await page.evaluate(() => localStorage.getItem("hongxin.dashboard.lang")), "en");
  await page.reload({ waitUntil: "load" });
  await page.waitForFunction(() => Number(document.body.dataset.renders || 0) >= 1, null, { timeout: 10000 });
  assert.equal(await page.getAttribute("html", "lang"), "en", "the choice survives a reload");
  assert.match(await page.textContent("#h-mechanism"), /Mechanism leads/);
  assert.match(await page.textContent("#t-industry thead"), /Industry/);
  await page.screenshot({ path: path.join(ARTIFACTS, "dashboard-en.png"), fullPage: true });
});

test("a report through Open311 shows on the page without a reload", async (t) => {
  // Does the server offer server-sent events yet?
  const ac = new AbortController();
  try {
    const r = await fetch(`${http}/api/v1/live`, { signal: ac.signal });
    liveOffered = r.ok && (r.headers.get("content-type") || "").startsWith("text/event-stream");
  } catch (_) { liveOffered = false; }
  ac.abort();
  if (liveOffered) {
    await page.waitForFunction(() => document.body.dataset.live === "sse", null, { timeout: 10000 });
  }
  const before = Number(await page.getAttribute("#f-m_cases", "data-value"));
  await page.evaluate(() => { window.__sameDocument = true; });
  const started = Date.now();
  await open311({ service_code: "elevator_fault", lat: 36.705, long: 116.705, description: "电梯困人", account_id: reporter });
  // Server-sent events answer within a fraction of a second; polling within 5 s.
  await page.waitForFunction((n) => Number(document.getElementById("f-m_cases").dataset.value) === n, before + 1, { timeout: liveOffered ? 3000 : 8000 });
  const took = Date.now() - started;
  assert.equal(await page.evaluate(() => window.__sameDocument), true, "no reload");
  assert.equal(await page.evaluate(() => document.body.dataset.live), liveOffered ? "sse" : "poll");
  assert.equal(await page.textContent("#f-m_cases"), String(before + 1));
  // The charts were drawn again from the same data, in place.
  const o = await overview();
  const drawn = await page.evaluate(() => {
    const option = window.echarts.getInstanceByDom(document.getElementById("chart-categories")).getOption();
    return { solved: option.series[0].data, open: option.series[1].data };
  });
  assert.deepEqual(drawn, {
    solved: o.cases_by_category.map((r) => r.resolved),
    open: o.cases_by_category.map((r) => r.cases - r.resolved),
  });
  t.diagnostic(`live update by ${liveOffered ? "server-sent events" : "polling"} in ${took} ms`);
});

test("on a phone the page is one column", async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, locale: "zh-CN", isMobile: true, hasTouch: true });
  const phone = await context.newPage();
  await phone.goto(`${http}/`, { waitUntil: "load" });
  await phone.waitForFunction(() => Number(document.body.dataset.renders || 0) >= 1, null, { timeout: 10000 });
  const columns = await phone.$eval("#mechanism .panels", (el) => getComputedStyle(el).gridTemplateColumns.split(" ").length);
  assert.equal(columns, 1);
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 1, `no sideways scrolling (${overflow}px)`);
  await phone.screenshot({ path: path.join(ARTIFACTS, "dashboard-phone.png"), fullPage: true });
  await context.close();
});
