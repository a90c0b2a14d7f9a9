// Deployments: each deployment's live state as the gateway's own traffic shows it, refreshed
// every five seconds. Data: GET /health.

import { get } from "../api.js";
import { colors } from "../charts.js";
import { badge, h } from "../dom.js";
import * as fmt from "../format.js";

const REFRESH_MS = 5000;

function state(row) {
  if (row.state === "healthy") return badge("Healthy", "good");
  return badge(`Cooling down until ${fmt.time(row.cooling_down_until)}`, "warn");
}

function fact(label, value, testid) {
  return h("div", {}, h("dt", {}, label), h("dd", { "data-testid": testid }, value));
}

function remaining(d) {
  if (d.remaining_requests === null && d.remaining_tokens === null) return "—";
  return `${fmt.short(d.remaining_requests)} req · ${fmt.short(d.remaining_tokens)} tok`;
}

function quota(sent, limit) {
  if (limit === null || limit === undefined) return "—";
  return sent === undefined ? fmt.count(limit) : `${fmt.count(sent)} / ${fmt.count(limit)}`;
}

export async function render(root, ctx) {
  const updated = h("span", { class: "fine" });
  const summary = h("div", { class: "toolbar" });
  const body = h("div", {});
  root.append(
    h("div", { class: "page-head" },
      h("div", {}, h("h1", {}, "Deployments"),
        h("p", { class: "muted" }, h("i", { class: "live-dot" }), "Live state from the gateway's own traffic — no probe calls. ", updated)),
      summary),
    body);

  async function load() {
    const health = await get("/health");
    if (!ctx.isCurrent()) return;
    const color = colors(health.deployments.map((d) => d.id));
    summary.replaceChildren(...[
      badge(`${health.healthy_count} healthy`, "good"),
      health.unhealthy_count ? badge(`${health.unhealthy_count} cooling down`, "warn") : null,
      badge(`${Object.values(health.queue).reduce((a, b) => a + b, 0)} queued`, "info"),
    ].filter(Boolean));
    const cards = health.deployments.map((d) => h("section", { class: "card deployment", "data-deployment": d.id },
      h("div", { class: "card-head" },
        h("div", {}, h("h2", { class: "name" }, h("i", { class: "swatch", style: { background: color(d.id) } }), d.id),
          h("p", { class: "muted" }, `${d.model_group} · ${d.provider}`)),
        h("span", { "data-testid": `state-${d.id}` }, state(d))),
      h("dl", { class: "facts" },
        fact("In flight", fmt.count(d.in_flight), `in-flight-${d.id}`),
        fact("Latency", fmt.ms(d.latency_ms)),
        fact("Recent 429s", d.recent_429s ? badge(String(d.recent_429s), "bad") : "0"),
        fact("Upstream left", remaining(d)),
        fact("Requests / min", quota(d.sent_requests_10s, d.rpm)),
        fact("Tokens / min", quota(d.sent_tokens_60s, d.tpm)),
      )));
    const groups = [...new Set(health.deployments.map((d) => d.model_group))];
    body.replaceChildren(...(groups.length ? groups.map((group) => {
      const members = health.deployments.filter((d) => d.model_group === group);
      const waiting = health.queue[group] || 0;
      return h("section", { class: "group", "data-group": group },
        h("div", { class: "group-head" }, h("h2", {}, group),
          h("span", { class: "muted" }, `${members.length} deployment${members.length === 1 ? "" : "s"}`),
          badge(`${waiting} queued`, waiting ? "warn" : null)),
        h("div", { class: "grid cards" }, members.map((d) => cards[health.deployments.indexOf(d)])));
    }) : [h("p", { class: "empty" }, "No deployments configured.")]));
    updated.textContent = `Updated ${fmt.time(health.checked_at)}; refreshes every ${REFRESH_MS / 1000} s. 429s are counted over ${Math.round(health.recent_window_s)} s.`;
  }
  await load();
  const timer = setInterval(() => load().catch(() => {}), REFRESH_MS);
  return () => clearInterval(timer);
}
