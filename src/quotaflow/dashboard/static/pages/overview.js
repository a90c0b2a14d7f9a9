// Overview: requests, tokens, spend, errors and latency over the last hour, day or week,
// per model group and per deployment. Data: GET /dashboard/activity.

import { get } from "../api.js";
import { colors, splitBars, timeChart } from "../charts.js";
import { h, table } from "../dom.js";
import * as fmt from "../format.js";

const UNROUTED_COLOR = "#94a3b8"; // requests refused before any deployment was picked
const WINDOWS = [["1h", "Last hour"], ["24h", "Last day"], ["7d", "Last 7 days"]];
const METRICS = {
  requests: { label: "Requests", pick: (s) => s.requests, format: fmt.short },
  tokens: { label: "Tokens", pick: (s) => s.total_tokens, format: fmt.short },
  spend: { label: "Spend", pick: (s) => s.spend, format: fmt.usd },
  errors: { label: "Errors", pick: (s) => s.errors, format: fmt.short },
};

function segmented(options, current, onPick, testid) {
  const group = h("div", { class: "segmented", role: "group", "data-testid": testid });
  for (const [value, label] of options) {
    group.append(h("button", { type: "button", "aria-pressed": String(value === current), dataset: { value },
      onclick: () => onPick(value) }, label));
  }
  return group;
}

function kpi(label, value, sub, testid) {
  return h("div", { class: "card kpi" },
    h("div", { class: "label" }, label),
    h("div", { class: "value", "data-testid": testid }, value),
    h("div", { class: "sub" }, sub || "\u00a0"));
}

function bucketSpan(seconds) {
  if (seconds < 3600) return `${seconds / 60} minutes`;
  if (seconds < 86400) return seconds === 3600 ? "hour" : `${seconds / 3600} hours`;
  return "day";
}

export async function render(root, ctx) {
  const state = {
    window: sessionStorage.getItem("qf.window") || "1h",
    metric: sessionStorage.getItem("qf.metric") || "requests",
  };
  const picker = h("div", { class: "toolbar" });
  const body = h("div", {});
  const updated = h("span", { class: "fine" });
  root.append(
    h("div", { class: "page-head" },
      h("div", {}, h("h1", {}, "Overview"),
        h("p", { class: "muted" }, "Traffic through the gateway, per model group and deployment. ", updated)),
      picker),
    body);

  async function load() {
    const activity = await get("/dashboard/activity", { window: state.window });
    if (!ctx.isCurrent()) return;
    picker.replaceChildren(segmented(WINDOWS, state.window, (value) => {
      state.window = value; sessionStorage.setItem("qf.window", value); load();
    }, "window"));
    body.replaceChildren(...view(activity, state, () => load()));
    updated.textContent = `Updated ${fmt.time(new Date().toISOString())}.`;
  }
  await load();
  const timer = setInterval(() => load().catch(() => {}), 30000);
  return () => clearInterval(timer);
}

function view(activity, state, reload) {
  const t = activity.totals;
  const names = activity.served.flatMap((group) => group.deployments);
  const palette = colors(names);
  const color = (name) => (names.includes(name) ? palette(name) : UNROUTED_COLOR);
  const rank = (name) => (names.includes(name) ? names.indexOf(name) : names.length);
  const deployments = [...activity.deployments].sort((a, b) => rank(a.name) - rank(b.name));
  const kpis = h("div", { class: "grid kpis" },
    kpi("Requests", fmt.count(t.requests), `${fmt.count(activity.records)} in this window`, "kpi-requests"),
    kpi("Tokens", fmt.short(t.total_tokens), `${fmt.short(t.prompt_tokens)} in · ${fmt.short(t.completion_tokens)} out`, "kpi-tokens"),
    kpi("Spend", fmt.usd(t.spend), "USD", "kpi-spend"),
    kpi("Errors", fmt.count(t.errors), `${fmt.percent(t.errors, t.requests)} of requests`, "kpi-errors"),
    kpi("Latency p50", fmt.ms(t.latency_p50_ms), "median", "kpi-p50"),
    kpi("Latency p99", fmt.ms(t.latency_p99_ms), "slowest 1%", "kpi-p99"),
  );

  const metric = METRICS[state.metric] || METRICS.requests;
  const labels = activity.buckets.map((b) => fmt.bucketLabel(b.start, activity.bucket_s));
  const seen = deployments.filter((d) => d.requests > 0);
  const series = seen.map((d) => ({
    name: d.name, color: color(d.name),
    values: activity.buckets.map((b) => (b.by_deployment[d.name] ? metric.pick(b.by_deployment[d.name]) : 0)),
  }));
  const mainChart = h("div", { "data-testid": "chart-deployments" });
  const metricPicker = segmented(Object.entries(METRICS).map(([k, m]) => [k, m.label]), state.metric, (value) => {
    state.metric = value; sessionStorage.setItem("qf.metric", value); reload();
  }, "metric");
  const main = h("section", { class: "card" },
    h("div", { class: "card-head" },
      h("div", {}, h("h2", {}, `${metric.label} by deployment`),
        h("p", { class: "muted" }, `Stacked, per ${bucketSpan(activity.bucket_s)}.`)),
      metricPicker),
    mainChart);
  timeChart(mainChart, {
    labels, series, format: metric.format, title: `${metric.label} by deployment`,
    tooltipTitle: (i) => fmt.dateTime(activity.buckets[i].start),
  });

  const split = h("div", { "data-testid": "split" });
  const busy = activity.served.filter((group) => deployments.some((d) => d.model_group === group.name && d.requests > 0));
  if (!busy.length) split.append(h("p", { class: "empty" }, "No requests in this window."));
  else splitBars(split, busy.map((group) => ({
    title: group.name,
    parts: group.deployments.map((name) => {
      const row = deployments.find((d) => d.name === name);
      return { name, value: row ? row.requests : 0, color: color(name) };
    }),
  })), { format: fmt.count });
  const splitCard = h("section", { class: "card" },
    h("div", { class: "card-head" }, h("div", {}, h("h2", {}, "Traffic split"),
      h("p", { class: "muted" }, "Requests each deployment served."))),
    split);

  const latency = h("div", {});
  timeChart(latency, {
    kind: "line", labels, legend: true, format: (v) => fmt.ms(v), title: "Latency",
    tooltipTitle: (i) => fmt.dateTime(activity.buckets[i].start),
    series: [
      { name: "p50", color: "#4f46e5", values: activity.buckets.map((b) => b.latency_p50_ms) },
      { name: "p99", color: "#f59e0b", values: activity.buckets.map((b) => b.latency_p99_ms) },
    ],
  });

  const statColumns = [
    { label: "Requests", num: true }, { label: "Errors", num: true }, { label: "Tokens", num: true },
    { label: "Spend", num: true }, { label: "p50", num: true }, { label: "p99", num: true },
  ];
  const stats = (row) => [fmt.count(row.requests), fmt.count(row.errors), fmt.short(row.total_tokens),
    fmt.usd(row.spend), fmt.ms(row.latency_p50_ms), fmt.ms(row.latency_p99_ms)];
  const groupTable = table([{ label: "Model group" }, ...statColumns],
    activity.model_groups.map((g) => [g.name, ...stats(g)]), { testid: "table-model-groups" });
  const deploymentTable = table(
    [{ label: "Deployment" }, { label: "Model group" }, ...statColumns, { label: "Share", num: true }],
    deployments.map((d) => h("tr", { "data-deployment": d.name },
      h("td", {}, h("span", { class: "name-cell" }, h("i", { class: "swatch", style: { background: color(d.name) } }), d.name)),
      h("td", { class: "muted" }, d.model_group || "—"),
      ...stats(d).map((value) => h("td", { class: "num" }, value)),
      h("td", { class: "num muted" }, fmt.percent(d.requests, t.requests)))),
    { testid: "table-deployments" });

  const notes = activity.truncated
    ? [h("p", { class: "form-error" }, `Only the newest ${fmt.count(activity.records)} requests of this window were read.`)]
    : [];
  return [
    ...notes,
    kpis,
    h("div", { class: "grid two section" }, main, splitCard),
    h("div", { class: "grid halves section" },
      h("section", { class: "card" }, h("div", { class: "card-head" }, h("div", {}, h("h2", {}, "Latency"),
        h("p", { class: "muted" }, "Gateway-measured, per bucket."))), latency),
      h("section", { class: "card" }, h("div", { class: "card-head" }, h("div", {}, h("h2", {}, "Model groups"),
        h("p", { class: "muted" }, "What callers asked for."))), groupTable)),
    h("section", { class: "card section" }, h("div", { class: "card-head" }, h("div", {}, h("h2", {}, "Deployments"),
      h("p", { class: "muted" }, "Where the gateway sent them."))), deploymentTable),
  ];
}
