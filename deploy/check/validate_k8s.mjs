#!/usr/bin/env node
// Validates deploy/k8s/*.yaml against the Kubernetes API schemas, then checks what no schema can.
//
// Schema: each document becomes its kubernetes-models class, whose validate() is the API's OpenAPI
// schema (types, required fields, enums, quantities). That schema allows unknown fields, which
// `kubectl apply` refuses, so the documents are also type-checked against the same package's
// TypeScript interfaces, where a misspelled field is an excess property.
// Cross-references: the objects must agree with each other (selectors, ports, the HPA's target and
// metric, the prometheus-adapter rule) and with the server, whose flags and their defaults are read
// from server/server_main.cc and whose metric names from server/metrics.cc, so a renamed flag or
// metric fails here rather than in a cluster.
//
//   node validate_k8s.mjs [DIR]                 DIR defaults to <repo>/deploy/k8s
//   node validate_k8s.mjs --self-test [DIR]     broken copies of DIR must each be rejected
// Exit 0: valid (or every broken copy rejected); 1: errors, listed; 2: usage.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parser as promql } from "@prometheus-io/lezer-promql";
import ts from "typescript";
import { LineCounter, parse as parseYaml, parseAllDocuments, stringify } from "yaml";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
const display = (f) => (f.startsWith(repo + path.sep) ? path.relative(repo, f) : f);

// ---------------------------------------------------------------- the server, from its sources

function readServer() {
  const mainPath = path.join(repo, "server/server_main.cc");
  const main = fs.readFileSync(mainPath, "utf8");
  const flags = new Map();
  const flagRe = /ABSL_FLAG\(\s*([\w:]+)\s*,\s*(\w+)\s*,\s*("(?:[^"\\]|\\.)*"|[^,]+?)\s*,/g;
  for (const [, type, name, def] of main.matchAll(flagRe)) flags.set(name, { type, def });
  const metricsPath = path.join(repo, "server/metrics.cc");
  const metricsSrc = fs.readFileSync(metricsPath, "utf8");
  const series = new Set();
  for (const [, kind, name] of metricsSrc.matchAll(
    /Build(Counter|Gauge|Histogram|Summary)\(\)\s*\.Name\("(\w+)"\)/g,
  )) {
    series.add(name);
    if (kind === "Histogram") for (const s of ["_bucket", "_sum", "_count"]) series.add(name + s);
    if (kind === "Summary") for (const s of ["_sum", "_count"]) series.add(name + s);
  }
  if (flags.size === 0 || series.size === 0) {
    throw new Error(`found no ABSL_FLAG in ${display(mainPath)} or no metric in ${display(metricsPath)}`);
  }
  // The defaults the manifests rely on when they leave a flag out, converted once so that a default
  // this script cannot read is an error rather than a silently skipped check.
  const defaults = {};
  for (const name of [
    "host",
    "port",
    "metrics_port",
    "drain_timeout",
    "profile_budget_s",
    "threads",
    "workers",
  ]) {
    const f = flags.get(name);
    const value = f && convertDefault(f);
    if (value === undefined) throw new Error(`cannot read the default of --${name} in ${display(mainPath)}`);
    defaults[name] = value;
  }
  return { flags, series, defaults };
}

function convertDefault({ type, def }) {
  if (type === "std::string") return /^"/.test(def) ? JSON.parse(def) : undefined;
  if (type === "int" || type === "double") return Number.isFinite(Number(def)) ? Number(def) : undefined;
  if (type === "absl::Duration") {
    const m = /^absl::(Milliseconds|Seconds|Minutes)\(([\d.]+)\)$/.exec(def);
    return m ? Number(m[2]) * { Milliseconds: 1e-3, Seconds: 1, Minutes: 60 }[m[1]] : undefined;
  }
  return undefined;
}

// absl::ParseDuration's syntax: "0", "inf", or numbers with units, e.g. 30s, 1m30s, 1.5s, 500ms.
function parseDuration(text) {
  if (text === "0") return 0;
  if (text === "inf") return Infinity;
  const re = /([0-9]*\.?[0-9]+)(ns|us|ms|s|m|h)/y;
  const unit = { ns: 1e-9, us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  let total = 0;
  let at = 0;
  while (at < text.length) {
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) return undefined;
    total += Number(m[1]) * unit[m[2]];
    at = re.lastIndex;
  }
  return at > 0 ? total : undefined;
}

// ---------------------------------------------------------------- loading

class Report {
  constructor() {
    this.errors = [];
  }
  // doc: a loaded document (or a bare {file, line}); at: a path into it, for the line and the message.
  add(doc, at, message) {
    const where = doc.kind !== undefined ? ` doc ${doc.index} ${doc.kind}/${doc.name}:` : "";
    const line = doc.lineOf ? doc.lineOf(at ?? []) : doc.line;
    const field = at && at.length ? ` ${formatPath(at)}:` : "";
    if (doc.kind !== undefined) doc.errors = (doc.errors ?? 0) + 1;
    this.errors.push(`${display(doc.file)}:${line}:${where}${field} ${message}`);
  }
}

const formatPath = (at) =>
  at
    .map((k, i) =>
      typeof k === "number" ? `[${k}]` : /^[\w-]+$/.test(k) ? (i ? "." : "") + k : `[${JSON.stringify(k)}]`,
    )
    .join("");

function loadDir(dir, report) {
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort();
  if (files.length === 0) report.add({ file: dir, line: 0 }, null, "no *.yaml manifests");
  const docs = [];
  for (const name of files) {
    const file = path.join(dir, name);
    const lc = new LineCounter();
    const parsed = parseAllDocuments(fs.readFileSync(file, "utf8"), { lineCounter: lc });
    parsed.forEach((ydoc, index) => {
      const line = (offset) => lc.linePos(offset).line;
      if (ydoc.errors.length) {
        for (const e of ydoc.errors)
          report.add(
            { file, line: line(e.pos[0]) },
            null,
            `YAML: ${e.message.split("\n")[0].replace(/:$/, "")}`,
          );
        return;
      }
      const obj = ydoc.toJS();
      if (obj === null || obj === undefined) return; // an empty document, e.g. after a trailing ---
      const doc = {
        file,
        index,
        obj,
        apiVersion: obj.apiVersion,
        kind: obj.kind ?? "?",
        name: obj.metadata?.name ?? "?",
        namespace: obj.metadata?.namespace ?? "",
        // The line of the deepest node of `at` that exists.
        lineOf(at) {
          for (let n = at.length; n >= 0; n--) {
            const node = n ? ydoc.getIn(at.slice(0, n), true) : ydoc.contents;
            if (node?.range) return line(node.range[0]);
          }
          return line(ydoc.range[0]);
        },
      };
      docs.push(doc);
    });
  }
  return docs;
}

// ---------------------------------------------------------------- schema

const models = new Map();

async function modelFor(apiVersion, kind) {
  const key = `${apiVersion} ${kind}`;
  if (!models.has(key)) {
    let model = null;
    // kubernetes-models lays out its classes as kubernetes-models/<group>/<version> ("v1": core).
    if (
      typeof apiVersion === "string" &&
      typeof kind === "string" &&
      /^([a-z0-9.-]+\/)?v\d+\w*$/.test(apiVersion)
    ) {
      const from = `kubernetes-models/${apiVersion}`;
      const mod = await import(from).catch(() => null);
      const cls = mod?.[kind];
      if (typeof cls === "function" && cls.kind === kind && cls.apiVersion === apiVersion)
        model = { cls, from, iface: `I${kind}` };
    }
    models.set(key, model);
  }
  return models.get(key);
}

function schemaErrors(doc, model, report) {
  try {
    new model.cls(doc.obj).validate();
    return 0;
  } catch (e) {
    if (!Array.isArray(e.errors)) {
      report.add(doc, [], `schema: ${e.message}`);
      return 1;
    }
    // ajv reports one failed alternative per line (e.g. a quantity is neither a number nor a
    // quantity string): one line per field.
    const byPath = new Map();
    for (const err of e.errors) {
      const at = err.instancePath
        .split("/")
        .slice(1)
        .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))
        .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
      const key = JSON.stringify(at);
      if (!byPath.has(key)) byPath.set(key, { at, messages: [] });
      const m = err.message ?? `${err.keyword} ${JSON.stringify(err.params)}`;
      if (!byPath.get(key).messages.includes(m)) byPath.get(key).messages.push(m);
    }
    for (const { at, messages } of byPath.values()) report.add(doc, at, `schema: ${messages.join("; ")}`);
    return byPath.size;
  }
}

// The documents as one TypeScript module of typed constants, compiled in memory: an excess property
// is a field the API does not have. Type mismatches are left to validate(), which names them better.
class UnknownFields {
  constructor() {
    this.virtual = path.join(here, "__manifests__.ts");
    this.options = {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ["lib.es2022.d.ts"],
      types: [],
    };
    this.sourceFiles = new Map(); // library files, parsed once for every run
    this.oldProgram = undefined;
  }

  check(entries, report) {
    const lines = [];
    const owners = []; // per line: [entry, path]
    entries.forEach(({ model }, i) => {
      lines.push(`import type { ${model.iface} as T${i} } from ${JSON.stringify(model.from)};`);
      owners.push(null);
    });
    entries.forEach((entry, i) => {
      emit(entry.doc.obj, [], "", `export const d${i}: T${i} = `, ";", lines, owners, entry);
    });
    const text = lines.join("\n") + "\n";
    const host = ts.createCompilerHost(this.options, true);
    const { getSourceFile, fileExists, readFile } = host;
    const isVirtual = (f) => path.resolve(f) === this.virtual;
    host.getSourceFile = (f, ...rest) => {
      if (isVirtual(f)) return ts.createSourceFile(f, text, ts.ScriptTarget.ES2022, true);
      if (!this.sourceFiles.has(f)) this.sourceFiles.set(f, getSourceFile.call(host, f, ...rest));
      return this.sourceFiles.get(f);
    };
    host.fileExists = (f) => isVirtual(f) || fileExists.call(host, f);
    host.readFile = (f) => (isVirtual(f) ? text : readFile.call(host, f));
    const program = ts.createProgram([this.virtual], this.options, host, this.oldProgram);
    this.oldProgram = program;
    const sf = program.getSourceFile(this.virtual);
    const diagnostics = [
      ...program.getOptionsDiagnostics(),
      ...program.getGlobalDiagnostics(),
      ...program.getSyntacticDiagnostics(sf),
      ...program.getSemanticDiagnostics(sf),
    ];
    // Assignability errors, which validate() reports as well.
    const typeErrors = new Set([2322, 2326, 2559, 2739, 2740, 2741, 2820]);
    for (const d of diagnostics) {
      const message = ts.flattenDiagnosticMessageText(d.messageText, " ");
      const owner =
        d.file === sf && d.start !== undefined
          ? owners[sf.getLineAndCharacterOfPosition(d.start).line]
          : null;
      if ((d.code === 2353 || d.code === 2561) && owner) {
        const m =
          /'"?([^'"]+)"?' does not exist in type 'I(?:IoK8s\w*?V\d\w*?(?=[A-Z]))?(\w+)'(?:\. Did you mean to write '"?([^'"]+)"?'\?)?/.exec(
            message,
          );
        const [entry, at] = owner;
        report.add(
          entry.doc,
          at,
          m ? `unknown field "${m[1]}" (not in ${m[2]})${m[3] ? `; did you mean "${m[3]}"?` : ""}` : message,
        );
      } else if (!typeErrors.has(d.code) || !owner) {
        // Anything else means the check itself is broken (a model's interface not found, ...).
        throw new Error(`unknown-field check: TS${d.code} ${message}`);
      }
    }
  }
}

// One property per line, each line remembering its document and path, to map compiler errors back.
function emit(value, at, indent, prefix, suffix, lines, owners, entry) {
  if (value === null || typeof value !== "object") {
    lines.push(indent + prefix + JSON.stringify(value ?? null) + suffix);
    owners.push([entry, at]);
    return;
  }
  const array = Array.isArray(value);
  lines.push(indent + prefix + (array ? "[" : "{"));
  owners.push([entry, at]);
  const items = array ? value.map((v, i) => [i, v]) : Object.entries(value);
  for (const [k, v] of items)
    emit(v, [...at, k], indent + " ", array ? "" : JSON.stringify(k) + ": ", ",", lines, owners, entry);
  lines.push(indent + (array ? "]" : "}") + suffix);
  owners.push([entry, at]);
}

// ---------------------------------------------------------------- cross-references

const ADAPTER_KEY = "config.yaml";
const ABSL_BUILTIN_FLAGS = new Set(["flagfile", "fromenv", "tryfromenv", "undefok"]);
const HOSTS_ALL = new Set(["0.0.0.0", "::", "[::]"]);

function matches(selector, labels) {
  if (!selector) return false;
  const sel =
    selector.matchLabels !== undefined || selector.matchExpressions !== undefined
      ? selector
      : { matchLabels: selector };
  const l = labels ?? {};
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const { key, operator, values = [] } of sel.matchExpressions ?? []) {
    const ok = {
      In: () => values.includes(l[key]),
      NotIn: () => !values.includes(l[key]),
      Exists: () => key in l,
      DoesNotExist: () => !(key in l),
    }[operator];
    if (!ok || !ok()) return false;
  }
  return Object.keys(sel.matchLabels ?? {}).length + (sel.matchExpressions ?? []).length > 0;
}

const labelsText = (l) => JSON.stringify(l ?? {});

// --name=value, --name value, --name / --noname (booleans); "--" ends the flags.
function parseFlags(argv, server) {
  const values = new Map();
  const errors = [];
  for (let i = 0; i < argv.length; i++) {
    const a = String(argv[i]);
    if (a === "--") break;
    const m = /^--?([\w-]+)(?:=(.*))?$/s.exec(a);
    if (!m) {
      errors.push(`argument ${JSON.stringify(a)} is not a flag (the server takes none)`);
      continue;
    }
    let [, name, value] = m;
    let flag = server.flags.get(name);
    if (
      !flag &&
      name.startsWith("no") &&
      server.flags.get(name.slice(2))?.type === "bool" &&
      value === undefined
    ) {
      name = name.slice(2);
      flag = server.flags.get(name);
      value = "false";
    }
    if (!flag && !ABSL_BUILTIN_FLAGS.has(name)) {
      errors.push(`unknown flag --${name} (not an ABSL_FLAG of server/server_main.cc)`);
      continue;
    }
    if (value === undefined)
      value = flag?.type === "bool" ? "true" : argv[++i] !== undefined ? String(argv[i]) : undefined;
    if (value === undefined) errors.push(`--${name} has no value`);
    else values.set(name, value);
  }
  return { values, errors };
}

// Seconds a preStop hook waits: exec sleep N (directly or through sh -c), or the sleep action.
function preStopSleep(preStop) {
  if (!preStop) return 0;
  if (preStop.sleep) return Number(preStop.sleep.seconds) || 0;
  const cmd = (preStop.exec?.command ?? []).map(String);
  const words =
    /(^|\/)(ba|da)?sh$/.test(cmd[0] ?? "") && cmd[1] === "-c" ? (cmd[2] ?? "").trim().split(/\s+/) : cmd;
  return /(^|\/)sleep$/.test(words[0] ?? "") && words.length === 2 && Number.isFinite(Number(words[1]))
    ? Number(words[1])
    : undefined;
}

function cpuCores(q) {
  if (q === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(String(q));
  return m ? Number(m[1]) / (m[2] ? 1000 : 1) : undefined;
}

// The series a PromQL selector names: `name{...}` or `{__name__="name",...}`.
function seriesOf(query) {
  const m = /^\s*([a-zA-Z_:][\w:]*)\s*(\{|$)/.exec(query) ?? /__name__\s*=\s*"([^"]+)"/.exec(query);
  return m ? m[1] : undefined;
}

// The offset of the first syntax error, by Prometheus' own PromQL grammar.
function promqlError(query) {
  let at;
  promql
    .parse(query)
    .iterate({
      enter: (n) => (at === undefined && n.type.isError ? ((at = n.from), false) : at === undefined),
    });
  return at;
}

// What prometheus-adapter's config exposes: metric name -> {rule index, whether it maps pods}.
function adapterMetrics(cmDoc, server, report) {
  const text = cmDoc.obj.data[ADAPTER_KEY];
  let config;
  try {
    config = parseYaml(text);
  } catch (e) {
    report.add(cmDoc, ["data", ADAPTER_KEY], `YAML: ${e.message.split("\n")[0]}`);
    return new Map();
  }
  const exposed = new Map();
  for (const section of ["rules", "externalRules"]) {
    const rules = config?.[section];
    if (rules === undefined) continue;
    if (!Array.isArray(rules)) {
      report.add(cmDoc, ["data", ADAPTER_KEY], `${section}: not a list`);
      continue;
    }
    rules.forEach((rule, i) => {
      const bad = (msg) => report.add(cmDoc, ["data", ADAPTER_KEY], `${section}[${i}]: ${msg}`);
      if (typeof rule?.seriesQuery !== "string") return bad("no seriesQuery");
      const series = seriesOf(rule.seriesQuery);
      if (!series)
        return bad(
          `seriesQuery ${JSON.stringify(rule.seriesQuery)} names no one series (name it, not a regex)`,
        );
      if (!server.series.has(series))
        bad(`seriesQuery names ${series}, not a series the server exports (server/metrics.cc)`);
      const query = rule.metricsQuery;
      if (typeof query !== "string") return bad("no metricsQuery");
      for (const part of ["<<.LabelMatchers>>", "<<.GroupBy>>"]) {
        if (!query.includes(part)) bad(`metricsQuery lacks ${part}: the value would not be per object`);
      }
      // The adapter fills these in per request; sample values make the query parseable as PromQL.
      const filled = query
        .replaceAll("<<.Series>>", series)
        .replaceAll("<<.LabelMatchers>>", 'namespace="ns",pod=~"a|b"')
        .replaceAll("<<.GroupBy>>", "pod");
      if (/<<.*?>>/.test(filled))
        bad(`metricsQuery uses ${/<<.*?>>/.exec(filled)[0]}, which this check does not know`);
      else
        for (const [what, q] of [
          ["seriesQuery", rule.seriesQuery],
          ["metricsQuery", filled],
        ]) {
          const at = promqlError(q);
          if (at !== undefined)
            bad(`${what} is no valid PromQL (at ${JSON.stringify(q.slice(at, at + 20) || "the end")})`);
        }
      for (const [name] of query.matchAll(/\bternserve_\w+/g)) {
        if (!server.series.has(name))
          bad(`metricsQuery uses ${name}, not a series the server exports (server/metrics.cc)`);
      }
      const overrides = Object.values(rule.resources?.overrides ?? {});
      const mapsPods =
        overrides.some((o) => o?.resource === "pod" || o?.resource === "pods") ||
        /<<\.Resource>>/.test(rule.resources?.template ?? "");
      let re;
      try {
        re = new RegExp(rule.name?.matches ?? "");
      } catch (e) {
        return bad(`name.matches: ${e.message}`);
      }
      const m = re.exec(series);
      if (!m)
        return bad(
          `name.matches ${JSON.stringify(rule.name?.matches)} does not match the series ${series}: the rule exposes nothing`,
        );
      // Go's Regexp.Expand, as the adapter applies it: "as" defaults to the one group, or the match.
      const as = rule.name?.as || (m.length === 2 ? "$1" : "$0");
      const name = as.replace(/\$(?:\{(\d+)\}|(\d+))/g, (_, a, b) => m[Number(a ?? b)] ?? "");
      exposed.set(name, { section, index: i, mapsPods });
    });
  }
  return exposed;
}

function crossCheck(docs, server, report) {
  const of = (kind) => docs.filter((d) => d.kind === kind);
  const deployments = of("Deployment");
  const hpas = of("HorizontalPodAutoscaler");
  const adapterConfigs = of("ConfigMap").filter(
    (d) =>
      typeof d.obj.data?.[ADAPTER_KEY] === "string" &&
      /^\s*(rules|externalRules|resourceRules)\s*:/m.test(d.obj.data[ADAPTER_KEY]),
  );
  if (deployments.length === 0) report.add({ file: "deploy/k8s", line: 0 }, null, "no Deployment");

  // Everything but the adapter's config lives in one namespace, which the references resolve in.
  const own = docs.filter((d) => !adapterConfigs.includes(d));
  for (const d of own) {
    if (d.namespace !== own[0].namespace)
      report.add(
        d,
        ["metadata", "namespace"],
        `namespace ${JSON.stringify(d.namespace)} differs from ${own[0].kind}/${own[0].name}'s ${JSON.stringify(own[0].namespace)}`,
      );
  }

  // Per Deployment: the ternserve container and what its flags make of it.
  const servers = new Map();
  for (const dep of deployments) {
    const podSpec = dep.obj.spec?.template?.spec ?? {};
    const labels = dep.obj.spec?.template?.metadata?.labels ?? {};
    const T = ["spec", "template", "spec"];
    if (!matches(dep.obj.spec?.selector, labels))
      report.add(
        dep,
        ["spec", "selector"],
        `selects no pod of its own template (labels ${labelsText(labels)})`,
      );
    (podSpec.topologySpreadConstraints ?? []).forEach((c, i) => {
      if (c.labelSelector && !matches(c.labelSelector, labels))
        report.add(
          dep,
          [...T, "topologySpreadConstraints", i, "labelSelector"],
          `does not select this Deployment's pods (labels ${labelsText(labels)})`,
        );
    });
    const containers = podSpec.containers ?? [];
    const ci = Math.max(
      0,
      containers.findIndex((c) => /(^|\/)ternserve([:@]|$)/.test(c.image ?? "")),
    );
    const c = containers[ci];
    if (!c) continue;
    const C = [...T, "containers", ci];

    let argv = c.args ?? [];
    if (c.command) {
      if (!/(^|\/)ternserve$/.test(String(c.command[0])))
        report.add(dep, [...C, "command"], `runs ${c.command[0]}, not ternserve: its flags are not checked`);
      argv = [...c.command.slice(1), ...argv];
    }
    const { values, errors } = parseFlags(argv, server);
    for (const e of errors) report.add(dep, [...C, "args"], e);
    const flag = (name, convert = Number) => {
      if (!values.has(name)) return server.defaults[name];
      const v = convert(values.get(name));
      if (v === undefined || Number.isNaN(v))
        report.add(dep, [...C, "args"], `--${name}=${values.get(name)} is not a valid value`);
      return v;
    };
    const port = flag("port");
    const metricsPort = flag("metrics_port");
    const host = flag("host", String);
    const drain = flag("drain_timeout", parseDuration);
    const ports = new Map((c.ports ?? []).map((p) => [p.name, p.containerPort]));
    const info = {
      dep,
      labels,
      ports,
      containerPorts: new Set((c.ports ?? []).map((p) => p.containerPort)),
      port,
      metricsPort,
    };
    servers.set(dep, info);

    if (!HOSTS_ALL.has(host))
      report.add(
        dep,
        [...C, "args"],
        `--host=${host}: the kubelet's probes and other pods reach the pod IP; use --host=0.0.0.0`,
      );
    const want = { grpc: ["--port", port], metrics: ["--metrics_port", metricsPort] };
    for (const [name, [flagName, value]] of Object.entries(want)) {
      if (name === "metrics" && value < 0) continue;
      if (!ports.has(name))
        report.add(dep, [...C, "ports"], `no container port named "${name}" (${flagName} ${value})`);
      else if (ports.get(name) !== value)
        report.add(
          dep,
          [...C, "ports"],
          `port "${name}" is containerPort ${ports.get(name)}, but the server listens on ${flagName} ${value}`,
        );
    }

    // Probes: through the gRPC health service on the server's gRPC port.
    const probes = { startupProbe: false, readinessProbe: true, livenessProbe: true };
    for (const [probe, required] of Object.entries(probes)) {
      const p = c[probe];
      if (!p) {
        if (required) report.add(dep, C, `no ${probe}`);
        continue;
      }
      if (!p.grpc)
        report.add(
          dep,
          [...C, probe],
          `not a grpc probe: use the gRPC health service (grpc: {port: ${port}})`,
        );
      else if (p.grpc.port !== port)
        report.add(
          dep,
          [...C, probe, "grpc", "port"],
          `probes port ${p.grpc.port}, but the server's gRPC port (--port) is ${port}`,
        );
      else if (p.grpc.service)
        report.add(dep, [...C, probe, "grpc", "service"], `the server reports health for service "" only`);
    }
    // Without --profile the server profiles before it listens; the probes must let it.
    if (!values.has("profile")) {
      const budget = flag("profile_budget_s");
      const p = c.startupProbe ?? c.livenessProbe;
      if (p) {
        const window = (p.initialDelaySeconds ?? 0) + (p.periodSeconds ?? 10) * (p.failureThreshold ?? 3);
        const which = c.startupProbe ? "startupProbe" : "livenessProbe";
        if (window <= budget)
          report.add(
            dep,
            [...C, which],
            `gives the server ${window}s to start, but without --profile it profiles for up to ${budget}s (--profile_budget_s) before it listens`,
          );
      }
    }

    // Prometheus' pod annotations.
    const ann = dep.obj.spec?.template?.metadata?.annotations ?? {};
    const A = ["spec", "template", "metadata", "annotations"];
    if (metricsPort >= 0) {
      if (ann["prometheus.io/scrape"] !== "true") report.add(dep, A, `prometheus.io/scrape is not "true"`);
      if (ann["prometheus.io/port"] !== String(metricsPort))
        report.add(
          dep,
          [...A, "prometheus.io/port"],
          `prometheus.io/port is ${JSON.stringify(ann["prometheus.io/port"])}, but the metrics port (--metrics_port) is ${metricsPort}`,
        );
      if ((ann["prometheus.io/path"] ?? "/metrics") !== "/metrics")
        report.add(
          dep,
          [...A, "prometheus.io/path"],
          `prometheus.io/path is ${JSON.stringify(ann["prometheus.io/path"])}; the server serves /metrics`,
        );
    } else if (ann["prometheus.io/scrape"] === "true") {
      report.add(dep, A, `prometheus.io/scrape is "true", but --metrics_port=-1 serves no metrics`);
    }

    // Draining: the kubelet waits the preStop hook, sends SIGTERM, and SIGKILLs at the grace period.
    const sleep = preStopSleep(c.lifecycle?.preStop);
    const grace = podSpec.terminationGracePeriodSeconds ?? 30;
    if (sleep === undefined)
      report.add(
        dep,
        [...C, "lifecycle", "preStop"],
        `is not a sleep this check understands (exec: [/bin/sleep, N])`,
      );
    else if (sleep <= 0)
      report.add(dep, C, `no preStop sleep: SIGTERM would come while the pod still gets new connections`);
    if (drain !== undefined && grace <= drain + (sleep ?? 0)) {
      report.add(
        dep,
        [...T, "terminationGracePeriodSeconds"],
        `terminationGracePeriodSeconds ${grace} is not more than --drain_timeout ${drain}s + the preStop sleep ${sleep ?? 0}s: the kubelet would SIGKILL a draining server`,
      );
    }

    // Threads: 0 counts the node's cores, not the pod's.
    const threads = flag("threads");
    const workers = flag("workers");
    const limit = cpuCores(c.resources?.limits?.cpu);
    for (const r of ["requests", "limits"]) {
      for (const q of ["cpu", "memory"])
        if (c.resources?.[r]?.[q] === undefined) report.add(dep, [...C, "resources"], `no ${r}.${q}`);
    }
    if (!threads)
      report.add(
        dep,
        [...C, "args"],
        `--threads=0 sizes the engine by the node's cores, not the pod's CPU limit; set it`,
      );
    else if (limit !== undefined && threads * workers > Math.ceil(limit))
      report.add(
        dep,
        [...C, "args"],
        `--workers=${workers} x --threads=${threads} exceeds the CPU limit ${limit}`,
      );

    // Security: what the image allows (uid 10001, nothing written, no privilege).
    const sc = { ...(podSpec.securityContext ?? {}), ...(c.securityContext ?? {}) };
    const S = [...C, "securityContext"];
    if (sc.runAsNonRoot !== true) report.add(dep, S, "runAsNonRoot is not true");
    if (!(sc.runAsUser > 0)) report.add(dep, S, "no non-zero runAsUser (the image's user is uid 10001)");
    if (c.securityContext?.readOnlyRootFilesystem !== true)
      report.add(dep, S, "readOnlyRootFilesystem is not true");
    if (c.securityContext?.allowPrivilegeEscalation !== false)
      report.add(dep, S, "allowPrivilegeEscalation is not false");
    if (!(c.securityContext?.capabilities?.drop ?? []).includes("ALL"))
      report.add(dep, S, `capabilities.drop lacks "ALL"`);
  }

  // Which Deployment's pods a selector picks.
  const selected = (doc, selector, at) => {
    const hits = [...servers.values()].filter(
      (s) => s.dep.namespace === doc.namespace && matches(selector, s.labels),
    );
    if (hits.length === 0)
      report.add(
        doc,
        at,
        `selector ${labelsText(selector?.matchLabels ?? selector)} selects no Deployment's pods (${[...servers.values()].map((s) => `${s.dep.name}: ${labelsText(s.labels)}`).join(", ")})`,
      );
    return hits;
  };

  for (const svc of of("Service")) {
    const hits = selected(svc, svc.obj.spec?.selector, ["spec", "selector"]);
    (svc.obj.spec?.ports ?? []).forEach((p, i) => {
      const P = ["spec", "ports", i];
      const target = p.targetPort ?? p.port;
      for (const s of hits) {
        const containerPort =
          typeof target === "string"
            ? s.ports.get(target)
            : s.containerPorts.has(target)
              ? target
              : undefined;
        if (containerPort === undefined) {
          report.add(
            svc,
            [...P, "targetPort"],
            `targetPort ${JSON.stringify(target)} is no container port of ${s.dep.name} (${JSON.stringify(Object.fromEntries(s.ports))})`,
          );
          continue;
        }
        if (containerPort === s.port && svc.obj.spec?.clusterIP !== "None") {
          report.add(
            svc,
            ["spec"],
            `serves gRPC (port ${containerPort}) but is not headless (clusterIP: None): behind a virtual IP each client's one connection, and so all its RPCs, go to one pod`,
          );
        }
        // Headless: clients dial pod IPs from DNS, so no proxy maps the Service port to the pod's.
        if (svc.obj.spec?.clusterIP === "None" && p.port !== containerPort) {
          report.add(
            svc,
            [...P, "port"],
            `port ${p.port} of a headless Service must equal the container port ${containerPort}: DNS gives clients pod IPs`,
          );
        }
      }
    });
  }

  const minReplicas = new Map(); // Deployment -> the fewest pods it runs
  for (const s of servers.values()) minReplicas.set(s.dep, s.dep.obj.spec?.replicas ?? 1);
  for (const hpa of hpas) {
    const ref = hpa.obj.spec?.scaleTargetRef ?? {};
    const R = ["spec", "scaleTargetRef"];
    const dep = deployments.find((d) => d.name === ref.name && d.namespace === hpa.namespace);
    if (ref.kind !== "Deployment" || ref.apiVersion !== "apps/v1" || !dep) {
      report.add(
        hpa,
        R,
        `scaleTargetRef ${ref.apiVersion}/${ref.kind} ${ref.name} names no Deployment here (${deployments.map((d) => d.name).join(", ") || "none"})`,
      );
    } else {
      minReplicas.set(dep, hpa.obj.spec?.minReplicas ?? 1);
      if (dep.obj.spec?.replicas !== undefined)
        report.add(
          dep,
          ["spec", "replicas"],
          `is set, but HorizontalPodAutoscaler/${hpa.name} scales this Deployment: every kubectl apply would reset its count`,
        );
    }
    if ((hpa.obj.spec?.minReplicas ?? 1) > hpa.obj.spec?.maxReplicas)
      report.add(hpa, ["spec", "minReplicas"], `exceeds maxReplicas ${hpa.obj.spec.maxReplicas}`);

    const exposed = new Map();
    for (const cm of adapterConfigs)
      for (const [name, rule] of adapterMetrics(cm, server, report)) exposed.set(name, { ...rule, cm });
    (hpa.obj.spec?.metrics ?? []).forEach((m, i) => {
      const M = ["spec", "metrics", i];
      const source = { Pods: "pods", Object: "object", External: "external" }[m.type];
      if (!source) return; // Resource and ContainerResource come from metrics-server, not the adapter.
      const name = m[source]?.metric?.name;
      const rule = exposed.get(name);
      const section = m.type === "External" ? "externalRules" : "rules";
      if (!rule || rule.section !== section) {
        report.add(
          hpa,
          [...M, source, "metric", "name"],
          `no prometheus-adapter rule exposes ${name} (${section} expose: ${
            [...exposed]
              .filter(([, r]) => r.section === section)
              .map(([n]) => n)
              .join(", ") || "nothing"
          })`,
        );
      } else if (m.type === "Pods" && !rule.mapsPods) {
        report.add(
          rule.cm,
          ["data", ADAPTER_KEY],
          `${section}[${rule.index}] exposes ${name} for HorizontalPodAutoscaler/${hpa.name}'s Pods metric, but maps no label to the resource pod`,
        );
      }
    });
  }

  for (const pdb of of("PodDisruptionBudget")) {
    const hits = selected(pdb, pdb.obj.spec?.selector, ["spec", "selector"]);
    const { minAvailable, maxUnavailable } = pdb.obj.spec ?? {};
    for (const s of hits) {
      const fewest = minReplicas.get(s.dep);
      if (typeof minAvailable === "number" && minAvailable >= fewest)
        report.add(
          pdb,
          ["spec", "minAvailable"],
          `minAvailable ${minAvailable} with as few as ${fewest} pods of ${s.dep.name}: no pod could ever be evicted, so node drains would hang`,
        );
      if (minAvailable === "100%" || maxUnavailable === 0 || maxUnavailable === "0%")
        report.add(pdb, ["spec"], "allows no disruption: node drains would hang");
    }
  }
}

// ---------------------------------------------------------------- the run

const unknownFields = new UnknownFields();

async function validate(dir, server) {
  const report = new Report();
  const docs = loadDir(dir, report);
  const entries = [];
  const ok = [];
  for (const doc of docs) {
    const model = await modelFor(doc.apiVersion, doc.kind);
    if (!model) {
      report.add(
        doc,
        ["kind"],
        `unknown kind: apiVersion ${JSON.stringify(doc.apiVersion)} kind ${JSON.stringify(doc.kind)} is no Kubernetes API type`,
      );
      continue;
    }
    schemaErrors(doc, model, report);
    entries.push({ doc, model });
  }
  if (entries.length) unknownFields.check(entries, report);
  for (const { doc } of entries) {
    if (!doc.errors)
      ok.push(`ok  ${display(doc.file)} doc ${doc.index}: ${doc.apiVersion} ${doc.kind} ${doc.name}`);
  }
  // Only documents of known kinds: an unknown one is reported once, above.
  crossCheck(
    entries.map((e) => e.doc),
    server,
    report,
  );
  return { ok, errors: report.errors, docs };
}

// A broken copy of DIR per case; each must be rejected with an error matching `expect`.
const CASES = [
  { name: "an unchanged copy passes", edit: () => {}, expect: null },
  {
    name: 'replicas: "three"',
    edit: (e) => (e("Deployment").spec.replicas = "three"),
    expect: /spec\.replicas: schema: must be integer/,
  },
  {
    name: "a misspelled field (livenesProbe)",
    edit: (e) => rename(e("Deployment").spec.template.spec.containers[0], "livenessProbe", "livenesProbe"),
    expect: /unknown field "livenesProbe" \(not in Container\)/,
  },
  {
    name: "a named port in a grpc probe",
    edit: (e) => (e("Deployment").spec.template.spec.containers[0].readinessProbe.grpc.port = "grpc"),
    expect: /readinessProbe\.grpc\.port: schema: must be integer/,
  },
  {
    name: "a CPU limit that is no quantity",
    edit: (e) => (e("Deployment").spec.template.spec.containers[0].resources.limits.cpu = "2 cores"),
    expect: /limits\.cpu: schema: .*quantity/,
  },
  {
    name: "an unknown kind",
    edit: (e, add) => add({ apiVersion: "apps/v1", kind: "Deploymnet", metadata: { name: "x" } }),
    expect: /unknown kind: .*"Deploymnet"/,
  },
  {
    name: "grace period shorter than the drain",
    edit: (e) => (e("Deployment").spec.template.spec.terminationGracePeriodSeconds = 20),
    expect: /terminationGracePeriodSeconds 20 is not more than --drain_timeout 30s \+ the preStop sleep 5s/,
  },
  {
    name: "--drain_timeout=1m beyond the grace period",
    edit: (e) => setFlag(e("Deployment"), "drain_timeout", "1m"),
    expect: /terminationGracePeriodSeconds 45 is not more than --drain_timeout 60s/,
  },
  {
    name: "no preStop hook",
    edit: (e) => delete e("Deployment").spec.template.spec.containers[0].lifecycle,
    expect: /no preStop sleep/,
  },
  {
    name: "a Service selector that matches no pod",
    edit: (e) => (e("Service", "ternserve").spec.selector = { "app.kubernetes.io/name": "ternserv" }),
    expect:
      /Service\/ternserve: spec\.selector: selector \{"app\.kubernetes\.io\/name":"ternserv"\} selects no Deployment's pods/,
  },
  {
    name: "a PDB selector that matches no pod",
    edit: (e) => (e("PodDisruptionBudget").spec.selector.matchLabels = { app: "ternserve" }),
    expect: /PodDisruptionBudget\/ternserve: spec\.selector: .*selects no Deployment's pods/,
  },
  {
    name: "a gRPC Service that is not headless",
    edit: (e) => delete e("Service", "ternserve").spec.clusterIP,
    expect: /is not headless/,
  },
  {
    name: "--port disagreeing with the container port and probes",
    edit: (e) => setFlag(e("Deployment"), "port", "9001"),
    expect: /containerPort 8001, but the server listens on --port 9001/,
  },
  {
    name: "a scrape annotation on the wrong port",
    edit: (e) => (e("Deployment").spec.template.metadata.annotations["prometheus.io/port"] = "8001"),
    expect: /prometheus\.io\/port is "8001", but the metrics port \(--metrics_port\) is 8002/,
  },
  {
    name: "a misspelled server flag",
    edit: (e) => renameFlag(e("Deployment"), "drain_timeout", "drain-timeout"),
    expect: /unknown flag --drain-timeout/,
  },
  {
    name: "no --host (the server's 127.0.0.1)",
    edit: (e) => setFlag(e("Deployment"), "host", null),
    expect: /--host=127\.0\.0\.1: the kubelet's probes/,
  },
  {
    name: "an HPA on another Deployment",
    edit: (e) => (e("HorizontalPodAutoscaler").spec.scaleTargetRef.name = "ternserv"),
    expect: /scaleTargetRef apps\/v1\/Deployment ternserv names no Deployment/,
  },
  {
    name: "an HPA metric no adapter rule exposes",
    edit: (e) =>
      (e("HorizontalPodAutoscaler").spec.metrics[0].pods.metric.name = "ternserve_queue_p99_seconds"),
    expect:
      /no prometheus-adapter rule exposes ternserve_queue_p99_seconds \(rules expose: ternserve_queue_p90_seconds\)/,
  },
  {
    name: "an adapter rule on a metric the server lacks",
    edit: (e) =>
      editAdapter(
        e("ConfigMap"),
        (r) =>
          (r.seriesQuery = r.seriesQuery.replace(
            "ternserve_queue_duration_seconds_bucket",
            "ternserve_queue_seconds_bucket",
          )),
      ),
    expect: /seriesQuery names ternserve_queue_seconds_bucket, not a series the server exports/,
  },
  {
    name: "an adapter metricsQuery that is no PromQL",
    edit: (e) => editAdapter(e("ConfigMap"), (r) => (r.metricsQuery = r.metricsQuery.replace(/\)\s*$/, ""))),
    expect: /rules\[0\]: metricsQuery is no valid PromQL/,
  },
  {
    name: "replicas beside the HPA",
    edit: (e) => (e("Deployment").spec.replicas = 3),
    expect: /spec\.replicas: is set, but HorizontalPodAutoscaler\/ternserve scales this Deployment/,
  },
];

function rename(obj, from, to) {
  if (!(from in obj)) throw new Error(`no field ${from} to rename`);
  obj[to] = obj[from];
  delete obj[from];
}

function containerArgs(dep) {
  const args = dep.spec.template.spec.containers[0].args;
  if (!Array.isArray(args)) throw new Error("the Deployment's container has no args");
  return args;
}

// value null: remove the flag.
function setFlag(dep, name, value) {
  const args = containerArgs(dep);
  const i = args.findIndex((a) => a.startsWith(`--${name}=`));
  if (i < 0) throw new Error(`no --${name}= in the Deployment's args`);
  if (value === null) args.splice(i, 1);
  else args[i] = `--${name}=${value}`;
}

function renameFlag(dep, name, to) {
  const args = containerArgs(dep);
  const i = args.findIndex((a) => a.startsWith(`--${name}=`));
  if (i < 0) throw new Error(`no --${name}= in the Deployment's args`);
  args[i] = args[i].replace(`--${name}=`, `--${to}=`);
}

function editAdapter(cm, fn) {
  const config = parseYaml(cm.data[ADAPTER_KEY]);
  fn(config.rules[0]);
  cm.data[ADAPTER_KEY] = stringify(config);
}

async function selfTest(dir, server) {
  const sources = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort();
  let failed = 0;
  for (const c of CASES) {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "check_k8s-"));
    try {
      // Every file is rewritten from its parsed documents (comments go), the unchanged case included,
      // so a rejection is the edit's doing and not the rewrite's.
      const files = sources.map((f) => ({
        name: f,
        docs: parseAllDocuments(fs.readFileSync(path.join(dir, f), "utf8"))
          .map((d) => d.toJS())
          .filter((o) => o != null),
      }));
      const find = (kind, name) => {
        const hits = files
          .flatMap((f) => f.docs)
          .filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
        if (hits.length !== 1)
          throw new Error(
            `the manifests have ${hits.length} ${kind}${name ? "/" + name : ""}, the case wants one`,
          );
        return hits[0];
      };
      const add = (obj) => files.push({ name: "zz-added.yaml", docs: [obj] });
      c.edit(find, add);
      for (const f of files)
        fs.writeFileSync(path.join(tmp, f.name), f.docs.map((o) => stringify(o)).join("---\n"));
      const { errors } = await validate(tmp, server);
      const shown = (e) => e.replaceAll(tmp + path.sep, "");
      if (c.expect === null) {
        if (errors.length) {
          failed++;
          console.error(`self-test FAILED  ${c.name}:\n  ${errors.map(shown).join("\n  ")}`);
        } else console.log(`self-test ok  ${c.name}`);
      } else {
        const hit = errors.find((e) => c.expect.test(e));
        if (hit) console.log(`self-test ok  ${c.name}: rejected: ${shown(hit)}`);
        else {
          failed++;
          console.error(
            `self-test FAILED  ${c.name}: ${errors.length ? `rejected, but with no error matching ${c.expect}:\n  ${errors.map(shown).join("\n  ")}` : "accepted"}`,
          );
        }
      }
    } catch (e) {
      failed++;
      console.error(`self-test FAILED  ${c.name}: ${e.message}`);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
  console.log(`self-test: ${CASES.length - failed} passed, ${failed} failed`);
  return failed === 0;
}

async function main() {
  const args = process.argv.slice(2);
  const self = args[0] === "--self-test";
  if (self) args.shift();
  if (args.length > 1 || args.some((a) => a.startsWith("-"))) {
    console.error("usage: validate_k8s.mjs [--self-test] [DIR]");
    return 2;
  }
  const dir = path.resolve(args[0] ?? path.join(repo, "deploy/k8s"));
  const server = readServer();
  if (self) return (await selfTest(dir, server)) ? 0 : 1;
  const { ok, errors, docs } = await validate(dir, server);
  for (const line of ok) console.log(line);
  if (errors.length) {
    for (const e of errors) console.error(`error  ${e}`);
    console.error(`validate_k8s: ${errors.length} error${errors.length > 1 ? "s" : ""} in ${display(dir)}`);
    return 1;
  }
  console.log(
    `ok  cross-references of ${docs.length} documents (selectors, ports, flags, probes, drain, HPA, adapter rule)`,
  );
  console.log(`validate_k8s: ${display(dir)} is valid (kubernetes-models ${modelsVersion()})`);
  return 0;
}

function modelsVersion() {
  return JSON.parse(fs.readFileSync(path.join(here, "node_modules/kubernetes-models/package.json"), "utf8"))
    .version;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`validate_k8s: ${e.stack ?? e}`);
    process.exit(1);
  },
);
