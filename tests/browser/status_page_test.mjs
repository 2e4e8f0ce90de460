// The status page in a real browser (issue 25): starts build/bin/ternserve on the shipped bundle
// (free ports), drives a light load, a burst and a light load again with ternserve-loadgen, opens
// http://127.0.0.1:<metrics_port>/ in Debian's headless chromium (playwright-core drives it; no
// browser is downloaded) and checks, from what the page itself fetched and drew:
//   charts      uPlot loaded and drew all 7 charts; the sub-net table lists every sub-net;
//   rate        the OK rate in the burst rose to >= 5x the light phase's;
//   mix         the sub-net mix changed: the sub-net that served the light load lost >= 20 points
//               of share during the burst (the scheduler moved to faster sub-nets);
//   agrees      the page's totals are exactly the counts of a /metrics scrape taken with it;
//   fallback    with the chart library blocked, the page says the charts are missing and still
//               shows the sub-net table and the last second's numbers as text.
// Saves the screenshots and the figures to --out (bench/results/status_page/). Exit 0 when every
// check passes, 1 otherwise (each failure says which check), 2 on a set-up error.
// Run by tools/test_status_page (make test-status-page), which installs playwright-core first.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, "").split("=")));
const build = path.resolve(repo, args.build || "build");
const out = path.resolve(repo, args.out || "bench/results/status_page");
const chromiumPath = args.chromium || "/usr/bin/chromium";
const light = Number(args.light_rps || 100);
const burst = Number(args.burst_rps || 3000);
const work = fs.mkdtempSync("/tmp/status_page_test.");
const failures = [];

function check(name, ok, detail) {
  console.log(`${ok ? "ok  " : "FAIL"} ${name}: ${detail}`);
  if (!ok) failures.push(name);
}

// Polls `predicate` every 100 ms until it returns a truthy value or `seconds` pass.
async function waitFor(what, seconds, predicate) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds} s waiting for ${what}`);
    await sleep(100);
  }
}

function run(command, argv, logName) {
  return new Promise((resolve, reject) => {
    const log = fs.openSync(path.join(work, logName), "w");
    const child = spawn(command, argv, { stdio: ["ignore", "pipe", log] });
    let stdout = "";
    child.stdout.on("data", (data) => (stdout += data));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${command} exited ${code}; see ${work}/${logName}`))));
  });
}

// One loadgen phase: its JSON report plus the wall-clock interval it ran over.
async function phase(name, grpcPort, rps, seconds) {
  const start = Date.now();
  const report = JSON.parse(await run(path.join(build, "bin/ternserve-loadgen"), [
    `--server=127.0.0.1:${grpcPort}`, `--trace=poisson:rate=${rps},duration=${seconds}`, "--slo_ms=50",
    "--json"], `loadgen_${name}.log`));
  console.log(`${name}: offered ${rps}/s for ${seconds} s, ok ${report.ok}/${report.sent}, mix ${JSON.stringify(report.subnet_mix)}`);
  return { name, start, end: Date.now(), report };
}

// Sub-net shares (%) and the mean OK rate over the samples whose interval ended in [from, to].
function summarize(doc, from, to) {
  const s = doc.series;
  const idx = s.time_unix_ms.map((t, i) => [t, i]).filter(([t]) => t >= from && t <= to).map(([, i]) => i);
  const totals = {};
  for (const [id, values] of Object.entries(s.subnet_requests_per_s)) {
    totals[id] = idx.reduce((a, i) => a + values[i], 0);
  }
  const all = Object.values(totals).reduce((a, b) => a + b, 0);
  const shares = Object.fromEntries(Object.entries(totals).map(([id, v]) => [id, all > 0 ? (100 * v) / all : 0]));
  const okRates = idx.map((i) => s.requests_per_s.OK[i]);
  return { samples: idx.length, shares, okMean: okRates.reduce((a, b) => a + b, 0) / Math.max(1, idx.length),
           okMax: Math.max(0, ...okRates) };
}

function parseScrape(text) {
  const samples = {};
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    samples[line.slice(0, at)] = Number(line.slice(at + 1));
  }
  return samples;
}

async function main() {
  for (const binary of ["ternserve", "ternserve-loadgen"]) {
    if (!fs.existsSync(path.join(build, "bin", binary))) throw new Error(`no ${build}/bin/${binary}: build first`);
  }
  if (!fs.existsSync(chromiumPath)) throw new Error(`no ${chromiumPath} (Debian: apt-get install chromium)`);
  fs.mkdirSync(out, { recursive: true });
  const portFile = path.join(work, "ports");
  const serverLog = fs.openSync(path.join(work, "ternserve.log"), "w");
  // A short start-up profile: the page shows whatever the scheduler does with it.
  const server = spawn(path.join(build, "bin/ternserve"), [
    `--bundle=${path.join(repo, "models/ternserve.tsn")}`, "--port=0", "--metrics_port=0",
    `--port_file=${portFile}`, "--profile_budget_s=5"], { stdio: ["ignore", serverLog, serverLog] });
  let exited = null;
  server.on("exit", (code, signal) => (exited = { code, signal }));
  let browser = null;
  try {
    const [grpcPort, metricsPort] = await waitFor("the server's port file", 120, () => {
      if (exited) throw new Error(`ternserve exited ${JSON.stringify(exited)}; see ${work}/ternserve.log`);
      const lines = fs.existsSync(portFile) ? fs.readFileSync(portFile, "utf8").trim().split("\n") : [];
      return lines.length === 2 ? lines.map(Number) : null;
    });
    const base = `http://127.0.0.1:${metricsPort}`;
    console.log(`ternserve on :${grpcPort}, status page ${base}/`);

    const phases = [await phase("light", grpcPort, light, 10), await phase("burst", grpcPort, burst, 8),
                    await phase("after", grpcPort, light, 8)];
    // The page's data must cover the whole load: wait for a sample taken after the last phase ended.
    await waitFor("a sample after the load", 30, async () => {
      const times = (await (await fetch(`${base}/status.json`)).json()).series.time_unix_ms;
      return times.length > 0 && times[times.length - 1] > phases[2].end;
    });

    browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const pageErrors = [];
    page.on("pageerror", (error) => pageErrors.push(String(error)));
    await page.goto(`${base}/`);
    await page.waitForFunction(() => window.ternserveStatus && window.ternserveStatus.updates >= 2, null, { timeout: 30000 });
    const state = await page.evaluate(() => ({
      charts: window.ternserveStatus.charts,
      doc: window.ternserveStatus.doc,
      canvases: document.querySelectorAll("#charts .uplot canvas").length,
      mixLegend: document.querySelectorAll("#chart-mix .u-legend .u-series").length,
      tableRows: document.querySelectorAll("#subnets tbody tr").length,
    }));
    const scrape = parseScrape(await (await fetch(`${base}/metrics`)).text());
    await page.screenshot({ path: path.join(out, "status_page.png"), fullPage: true });

    const subnets = state.doc.model.subnets.length;
    check("charts", state.charts === "uplot" && state.canvases === 7 && state.mixLegend === subnets + 1 &&
          state.tableRows === subnets && pageErrors.length === 0,
          `library ${state.charts}, ${state.canvases} charts, mix legend ${state.mixLegend - 1} sub-nets, ` +
          `table ${state.tableRows} of ${subnets} sub-nets, page errors ${JSON.stringify(pageErrors)}`);
    const [lightWindow, burstWindow] = [summarize(state.doc, phases[0].start + 1500, phases[0].end),
                                        summarize(state.doc, phases[1].start + 1500, phases[1].end)];
    check("rate", lightWindow.samples >= 5 && burstWindow.samples >= 4 && burstWindow.okMax >= 5 * lightWindow.okMean,
          `OK rate: light ${lightWindow.okMean.toFixed(1)}/s (${lightWindow.samples} samples), ` +
          `burst peak ${burstWindow.okMax.toFixed(1)}/s (${burstWindow.samples} samples)`);
    const lightTop = Object.entries(lightWindow.shares).sort((a, b) => b[1] - a[1])[0][0];
    const drop = lightWindow.shares[lightTop] - burstWindow.shares[lightTop];
    const round = (shares) => Object.fromEntries(Object.entries(shares).filter(([, v]) => v >= 0.5).map(([k, v]) => [k, +v.toFixed(1)]));
    check("mix", drop >= 20,
          `sub-net ${lightTop} ran ${lightWindow.shares[lightTop].toFixed(1)}% in the light load, ` +
          `${burstWindow.shares[lightTop].toFixed(1)}% in the burst; burst mix ${JSON.stringify(round(burstWindow.shares))}`);
    // The page's totals come from the last sample, the scrape from now; nothing ran in between.
    const totals = state.doc.totals;
    check("agrees", totals.requests_by_code.OK === scrape['ternserve_requests_total{code="OK"}'] &&
          totals.slo.met === scrape['ternserve_slo_total{outcome="met"}'] &&
          Object.entries(totals.subnet_requests).every(([id, v]) => v === scrape[`ternserve_subnet_requests_total{subnet="${id}"}`]),
          `page OK ${totals.requests_by_code.OK}, /metrics OK ${scrape['ternserve_requests_total{code="OK"}']}`);

    // Without the chart library (as in a build without npm): the page says so and shows text.
    const bare = await browser.newPage({ viewport: { width: 1400, height: 700 } });
    await bare.route("**/uplot.iife.min.js", (route) => route.fulfill({ status: 404, body: "" }));
    await bare.goto(`${base}/`);
    await bare.waitForFunction(() => window.ternserveStatus && window.ternserveStatus.updates >= 1, null, { timeout: 30000 });
    const fallback = await bare.evaluate(() => ({
      charts: window.ternserveStatus.charts,
      notice: !document.getElementById("charts-missing").hidden ? document.getElementById("charts-missing").textContent : "",
      rows: document.querySelectorAll("#subnets tbody tr").length,
      numbers: document.querySelectorAll("#now-list dd").length,
      emptyChartsShown: getComputedStyle(document.getElementById("charts")).display !== "none",
    }));
    await bare.screenshot({ path: path.join(out, "status_page_no_charts.png"), fullPage: true });
    check("fallback", fallback.charts === "missing" && /Charts are missing/.test(fallback.notice) &&
          fallback.rows === subnets && fallback.numbers >= 7 && !fallback.emptyChartsShown,
          `library ${fallback.charts}, notice ${fallback.notice ? "shown" : "absent"}, ` +
          `empty chart frames ${fallback.emptyChartsShown ? "shown" : "hidden"}, ${fallback.rows} sub-net rows, ` +
          `${fallback.numbers} numbers`);

    fs.writeFileSync(path.join(out, "status_page.json"), JSON.stringify({
      chromium: browser.version(), light_rps: light, burst_rps: burst,
      phases: phases.map((p) => ({ name: p.name, seconds: (p.end - p.start) / 1000, sent: p.report.sent, ok: p.report.ok,
                                   subnet_mix: p.report.subnet_mix, p99_ms: p.report.p99_ms })),
      page: { light: { ok_per_s: lightWindow.okMean, shares: round(lightWindow.shares) },
              burst: { ok_per_s_peak: burstWindow.okMax, shares: round(burstWindow.shares) } },
      failures,
    }, null, 2) + "\n");
  } finally {
    if (browser) await browser.close();
    server.kill("SIGTERM");
    await waitFor("ternserve to exit on SIGTERM", 60, () => exited);
    check("exit", exited.code === 0, `ternserve exited ${JSON.stringify(exited)} on SIGTERM`);
  }
  console.log(failures.length ? `FAILED: ${failures.join(", ")} (logs in ${work})` : `PASSED; screenshots in ${out}`);
  return failures.length ? 1 : 0;
}

main().then((code) => process.exit(code), (error) => {
  console.error(`status_page_test: ${error.message}`);
  process.exit(2);
});
