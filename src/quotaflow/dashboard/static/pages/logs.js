// Logs: the latest requests, newest first — status, model group, deployment, key, attempts,
// latency, tokens and cost. No prompt or answer text is ever stored. Data: /spend/logs.

import { allKeys, get, getWithHeaders, served } from "../api.js";
import { badge, h, table } from "../dom.js";
import { field, select } from "../forms.js";
import * as fmt from "../format.js";

const PAGE = 100;

function status(code) {
  if (code < 400) return badge(String(code), "good");
  if (code === 429) return badge(String(code), "warn");
  return badge(String(code), "bad");
}

export async function render(root, ctx) {
  const [teams, groups] = await Promise.all([get("/team/list"), served()]);
  const filters = h("form", { class: "form-grid", novalidate: true, style: { gridTemplateColumns: "repeat(auto-fit, minmax(160px, 1fr))" } },
    field("Team", select("team_id", [["", "All teams"], ...teams.map((t) => [t.team_id, t.team_id])])),
    field("Model group", select("model", [["", "All models"], ...groups.map((g) => [g.name, g.name])])),
    field("Status", select("status", [["", "All"], ["errors", "Errors only"]])),
    h("div", { class: "form-actions", style: { gridColumn: "auto", alignSelf: "end" } },
      h("button", { class: "button", type: "submit", "data-testid": "refresh-logs" }, "Refresh")));
  const tbody = h("div", {});
  const more = h("button", { class: "button", type: "button", hidden: true }, "Load more");
  const count = h("span", { class: "fine" });
  root.append(
    h("div", { class: "page-head" }, h("div", {}, h("h1", {}, "Logs"),
      h("p", { class: "muted" }, "Recent requests, newest first. Prompts and answers are never stored. ", count))),
    h("section", { class: "card" }, filters),
    h("section", { class: "card section" }, tbody, h("div", { class: "toolbar", style: { justifyContent: "center", marginTop: "0.75rem" } }, more)));

  let aliases = new Map();
  let records = [];
  let cursor = null;

  async function load(append) {
    const params = { limit: PAGE, team_id: filters.elements.namedItem("team_id").value, model: filters.elements.namedItem("model").value };
    if (append && cursor) params.cursor = cursor;
    const { data, headers } = await getWithHeaders("/spend/logs", params);
    if (!ctx.isCurrent()) return;
    cursor = headers.get("x-next-cursor");
    records = append ? records.concat(data) : data;
    more.hidden = !cursor;
    draw();
  }

  function draw() {
    const onlyErrors = filters.elements.namedItem("status").value === "errors";
    const shown = onlyErrors ? records.filter((r) => r.status_code >= 400) : records;
    count.textContent = `${fmt.count(shown.length)} shown.`;
    tbody.replaceChildren(table([
      { label: "Time" }, { label: "Status" }, { label: "Model group" }, { label: "Deployment" }, { label: "Key" },
      { label: "Team" }, { label: "Attempts", num: true }, { label: "Latency", num: true }, { label: "Tokens in → out", num: true },
      { label: "Cost", num: true }, { label: "Request id" },
    ], shown.map((r) => h("tr", { "data-request": r.request_id },
      h("td", { class: "time" }, fmt.dateTime(r.startTime)),
      h("td", {}, status(r.status_code)),
      h("td", {}, r.model_group || "—"),
      h("td", { "data-testid": "log-deployment" }, r.model_id || h("span", { class: "muted" }, "not routed")),
      h("td", {}, r.key_alias || (r.api_key ? aliases.get(r.api_key) || h("code", {}, `${r.api_key.slice(0, 8)}…`) : h("span", { class: "muted" }, "master key"))),
      h("td", {}, r.team_id || h("span", { class: "muted" }, "—")),
      h("td", { class: "num" }, r.metadata && r.metadata.attempts !== undefined ? fmt.count(r.metadata.attempts) : "—"),
      h("td", { class: "num" }, fmt.ms(r.request_duration_ms)),
      h("td", { class: "num" }, `${fmt.count(r.prompt_tokens)} → ${fmt.count(r.completion_tokens)}`),
      h("td", { class: "num" }, fmt.usd(r.spend)),
      h("td", {}, h("code", { class: "muted", title: r.request_id }, r.request_id.length > 12 ? `…${r.request_id.slice(-10)}` : r.request_id)),
    )), { testid: "table-logs", empty: "No requests yet." }));
  }

  filters.addEventListener("submit", (event) => { event.preventDefault(); load(false); });
  filters.addEventListener("change", (event) => {
    if (event.target.name === "status") draw(); else load(false);
  });
  more.addEventListener("click", () => load(true));
  aliases = new Map((await allKeys()).map((k) => [k.token, k.key_alias || k.key_name]));
  await load(false);
}
