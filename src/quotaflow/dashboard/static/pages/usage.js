// Usage: spend, tokens or requests per day, grouped by team, key, model or deployment, over a
// date range, exportable as CSV. Data: /global/spend/report (and /key/list for key aliases).

import { allKeys, get } from "../api.js";
import { colors, timeChart } from "../charts.js";
import { card, h, table } from "../dom.js";
import { clearErrors, field, input, select, showError } from "../forms.js";
import * as fmt from "../format.js";

const MAX_SERIES = 8;
const NONE = "(none)";
const METRICS = {
  spend: { label: "Spend", pick: (g) => g.total_spend, format: fmt.usd },
  tokens: { label: "Tokens", pick: (g) => g.total_tokens, format: fmt.short },
  requests: { label: "Requests", pick: (g) => g.requests, format: fmt.short },
};
const GROUPS = [["team", "Team"], ["key", "Key"], ["model", "Model group"], ["deployment", "Deployment"]];

const state = { groupBy: "team", metric: "spend", start: null, end: null };

function daysBetween(start, end) {
  const days = [];
  for (let d = new Date(`${start}T00:00:00Z`); fmt.isoDay(d) <= end; d = new Date(d.getTime() + 86400000)) days.push(fmt.isoDay(d));
  return days;
}

function csvCell(value) {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export async function render(root) {
  const today = new Date();
  state.end = state.end || fmt.isoDay(today);
  state.start = state.start || fmt.isoDay(new Date(today.getTime() - 13 * 86400000));
  const form = h("form", { class: "form-grid", novalidate: true, "data-testid": "usage-form", style: { gridTemplateColumns: "repeat(auto-fit, minmax(150px, 1fr))" } },
    field("From", input("start_date", { type: "date", value: state.start })),
    field("To", input("end_date", { type: "date", value: state.end })),
    field("Group by", select("group_by", GROUPS)),
    field("Show", select("metric", Object.entries(METRICS).map(([k, m]) => [k, m.label]))),
    h("div", { class: "form-actions", style: { gridColumn: "auto", alignSelf: "end" } },
      h("button", { class: "button primary", type: "submit" }, "Apply"),
      h("button", { class: "button", type: "button", "data-testid": "export-csv", onclick: () => exportCsv() }, "Export CSV")));
  form.elements.namedItem("group_by").value = state.groupBy;
  form.elements.namedItem("metric").value = state.metric;
  const body = h("div", { class: "section" });
  root.append(
    h("div", { class: "page-head" }, h("div", {}, h("h1", {}, "Usage"),
      h("p", { class: "muted" }, "Daily spend and tokens from the spend report (UTC days)."))),
    h("section", { class: "card" }, form),
    body);

  let rows = [];
  let labelOf = (group) => group ?? NONE;

  async function load() {
    clearErrors(form);
    state.start = form.elements.namedItem("start_date").value;
    state.end = form.elements.namedItem("end_date").value;
    state.groupBy = form.elements.namedItem("group_by").value;
    state.metric = form.elements.namedItem("metric").value;
    let report;
    try {
      report = await get("/global/spend/report", { group_by: state.groupBy, start_date: state.start, end_date: state.end });
    } catch (error) {
      showError(form, error);
      return;
    }
    if (state.groupBy === "key") {
      const aliases = new Map((await allKeys()).map((k) => [k.token, k.key_alias || k.key_name]));
      labelOf = (group) => (group === null ? "master key" : aliases.get(group) || `${group.slice(0, 10)}… (deleted)`);
    } else {
      labelOf = (group) => group ?? NONE;
    }
    rows = report.flatMap((day) => day.groups.map((g) => ({ day: day.group_by_day, ...g })));
    body.replaceChildren(...view(rows, labelOf));
  }

  function exportCsv() {
    const header = ["day", "group_by", "group", "label", "requests", "prompt_tokens", "completion_tokens", "total_tokens", "spend_usd"];
    const lines = [header.join(",")].concat(rows.map((r) => [r.day, state.groupBy, r.group, labelOf(r.group), r.requests,
      r.prompt_tokens, r.completion_tokens, r.total_tokens, r.total_spend].map(csvCell).join(",")));
    const blob = new Blob([lines.join("\n") + "\n"], { type: "text/csv" });
    const link = h("a", { href: URL.createObjectURL(blob), download: `quotaflow-usage-${state.groupBy}-${state.start}-${state.end}.csv` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  form.addEventListener("change", (event) => { if (event.target.tagName === "SELECT") load(); });
  await load();
}

function view(rows, labelOf) {
  const metric = METRICS[state.metric];
  const days = daysBetween(state.start, state.end);
  const totals = new Map();
  for (const row of rows) {
    const t = totals.get(row.group) || { group: row.group, requests: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, total_spend: 0 };
    for (const k of ["requests", "prompt_tokens", "completion_tokens", "total_tokens", "total_spend"]) t[k] += row[k];
    totals.set(row.group, t);
  }
  const ranked = [...totals.values()].sort((a, b) => metric.pick(b) - metric.pick(a));
  const shown = ranked.slice(0, MAX_SERIES);
  const rest = new Set(ranked.slice(MAX_SERIES).map((g) => g.group));
  const color = colors(shown.map((g) => labelOf(g.group)));
  const series = shown.map((g) => ({ name: labelOf(g.group), color: color(labelOf(g.group)),
    values: days.map((d) => rows.filter((r) => r.day === d && r.group === g.group).reduce((sum, r) => sum + metric.pick(r), 0)) }));
  if (rest.size) {
    series.push({ name: "Other", color: "#cbd5e1",
      values: days.map((d) => rows.filter((r) => r.day === d && rest.has(r.group)).reduce((sum, r) => sum + metric.pick(r), 0)) });
  }
  const chart = h("div", { "data-testid": "usage-chart" });
  timeChart(chart, { labels: days.map(fmt.day), series, format: metric.format, legend: true,
    title: `${metric.label} per day`, tooltipTitle: (i) => days[i], empty: "No usage in this range." });
  const whole = ranked.reduce((sum, g) => sum + metric.pick(g), 0);
  const groupLabel = GROUPS.find(([k]) => k === state.groupBy)[1];
  return [
    card(`${metric.label} per day by ${groupLabel.toLowerCase()}`, `${days.length} days, ${state.start} to ${state.end}.`, chart),
    h("section", { class: "card section" },
      table([{ label: groupLabel }, { label: "Requests", num: true }, { label: "Prompt tokens", num: true },
        { label: "Completion tokens", num: true }, { label: "Total tokens", num: true }, { label: "Spend", num: true }, { label: "Share", num: true }],
      ranked.map((g) => h("tr", { "data-group": g.group ?? NONE },
        h("td", {}, h("strong", {}, labelOf(g.group))),
        h("td", { class: "num", "data-testid": "usage-requests" }, fmt.count(g.requests)),
        h("td", { class: "num" }, fmt.count(g.prompt_tokens)),
        h("td", { class: "num" }, fmt.count(g.completion_tokens)),
        h("td", { class: "num", "data-testid": "usage-tokens" }, fmt.count(g.total_tokens)),
        h("td", { class: "num", "data-testid": "usage-spend" }, fmt.usd(g.total_spend)),
        h("td", { class: "num muted" }, fmt.percent(metric.pick(g), whole)))),
      { testid: "table-usage", empty: "No usage in this range." })),
  ];
}
