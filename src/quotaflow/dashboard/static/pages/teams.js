// Teams: create, edit models, limits and budgets, members, spend over time.
// Data: /team/list, /team/info, /team/new, /team/update, /team/member_add|member_delete,
// /team/delete and /global/spend/report?group_by=team.

import { get, post, served } from "../api.js";
import { timeChart } from "../charts.js";
import { badge, card, h, table, toast } from "../dom.js";
import { field, input, LIMIT_SPEC, limitFields, select, submit, values } from "../forms.js";
import * as fmt from "../format.js";

const REPORT_DAYS = 30;

function budget(row) {
  const spent = fmt.usd(row.spend);
  return row.max_budget === null ? spent : `${spent} / ${fmt.usd(row.max_budget)}${row.budget_duration ? ` per ${row.budget_duration}` : ""}`;
}

function models(list) {
  return list.length ? list.map((m) => h("span", { class: "chip" }, m)) : h("span", { class: "muted" }, "all models");
}

function limits(row) {
  return `${fmt.limit(row.rpm_limit)} rpm · ${fmt.limit(row.tpm_limit)} tpm`;
}

export async function render(root, ctx) {
  const [teams, groups] = await Promise.all([get("/team/list"), served()]);
  const names = groups.map((g) => g.name);
  const selected = ctx.args[0] || null;
  root.append(h("div", { class: "page-head" },
    h("div", {}, h("h1", {}, "Teams"),
      h("p", { class: "muted" }, "Which models each team may use, its budget and rate limits, and what it spent.")),
    h("div", { class: "toolbar" },
      h("button", { class: "button primary", type: "button", "data-testid": "new-team",
        onclick: () => { createCard.hidden = !createCard.hidden; createCard.querySelector("input")?.focus(); } }, "New team"))));

  const createCard = createForm(names);
  createCard.hidden = teams.length > 0;
  root.append(createCard);

  const rows = teams.map((team) => h("tr", { "data-team": team.team_id, class: team.team_id === selected ? "selected" : null },
    h("td", {}, h("a", { href: `#/teams/${encodeURIComponent(team.team_id)}` }, h("strong", {}, team.team_id)),
      team.team_alias ? h("div", { class: "fine" }, team.team_alias) : null),
    h("td", {}, models(team.models)),
    h("td", { class: "num" }, fmt.count(team.members_with_roles.length)),
    h("td", { class: "num", "data-testid": `team-spend-${team.team_id}` }, budget(team)),
    h("td", { class: "num muted" }, limits(team)),
    h("td", {}, team.blocked ? badge("Blocked", "bad") : badge("Active", "good")),
  ));
  root.append(h("section", { class: "card section" },
    table([{ label: "Team" }, { label: "Models" }, { label: "Members", num: true }, { label: "Spend / budget", num: true },
      { label: "Limits", num: true }, { label: "Status" }], rows, { testid: "table-teams", empty: "No teams yet: create one above." })));

  if (selected) {
    const team = teams.find((t) => t.team_id === selected);
    root.append(team ? await detail(team, names) : card("No such team", `There is no team '${selected}'.`));
  }
}

function createForm(names) {
  const form = h("form", { class: "form-grid", novalidate: true, "data-testid": "team-form" },
    field("Team id", input("team_id", { placeholder: "e.g. dev", autocomplete: "off" }), { hint: "Letters, digits, dashes; empty: one is made up." }),
    field("Name", input("team_alias", { placeholder: "optional", autocomplete: "off" })),
    ...limitFields(names),
    h("div", { class: "form-actions" }, h("button", { class: "button primary", type: "submit" }, "Create team")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = values(form, { team_id: "text", team_alias: "text", ...LIMIT_SPEC });
    const made = await submit(form, () => post("/team/new", body), { conflictField: "team_id" });
    if (made) {
      toast(`Team ${made.team_id} created.`);
      location.hash = `#/teams/${encodeURIComponent(made.team_id)}`;
    }
  });
  return card("New team", "Budgets reset every period; empty limits mean unlimited.", form);
}

async function detail(team, names) {
  const today = new Date();
  const start = new Date(today.getTime() - (REPORT_DAYS - 1) * 86400000);
  const [info, report] = await Promise.all([
    get("/team/info", { team_id: team.team_id }),
    get("/global/spend/report", { group_by: "team", start_date: fmt.isoDay(start), end_date: fmt.isoDay(today) }),
  ]);
  const days = [];
  for (let d = new Date(start); fmt.isoDay(d) <= fmt.isoDay(today); d = new Date(d.getTime() + 86400000)) days.push(fmt.isoDay(d));
  const byDay = new Map(report.map((r) => [r.group_by_day, r.groups.find((g) => g.group === team.team_id)]));
  const rows = days.map((d) => byDay.get(d) || null);
  const total = (pick) => rows.reduce((sum, r) => sum + (r ? pick(r) : 0), 0);

  const chart = h("div", { "data-testid": "team-chart" });
  timeChart(chart, {
    labels: days.map(fmt.day), format: fmt.usd, title: "Spend per day", legend: true,
    series: [{ name: "Spend (USD)", color: "#4f46e5", values: rows.map((r) => (r ? r.total_spend : 0)) }],
    tooltipTitle: (i) => days[i],
    empty: "No spend in the last 30 days.",
  });
  const usage = h("div", { class: "grid kpis", style: { gridTemplateColumns: "repeat(auto-fit, minmax(130px, 1fr))" } },
    ...[["Requests", fmt.count(total((r) => r.requests)), "team-requests"],
      ["Tokens", fmt.short(total((r) => r.total_tokens)), "team-tokens"],
      ["Spend", fmt.usd(total((r) => r.total_spend)), "team-spend"],
      ["Keys", fmt.count(info.keys.length), "team-keys"]].map(([label, value, testid]) =>
      h("div", { class: "kpi" }, h("div", { class: "label" }, label), h("div", { class: "value", "data-testid": testid }, value))));

  return h("div", { class: "section", "data-testid": "team-detail" },
    h("div", { class: "grid halves" },
      card(`Usage of ${team.team_id}`, `Last ${REPORT_DAYS} days, from the daily spend report.`, usage, h("div", { class: "section" }, chart)),
      editForm(team, names)),
    h("div", { class: "grid halves section" }, members(team), keys(info.keys)),
    h("div", { class: "section toolbar" }, h("button", {
      class: "button danger", type: "button", "data-testid": "delete-team",
      onclick: async () => {
        if (!confirm(`Delete team ${team.team_id} and its ${info.keys.length} key(s)?`)) return;
        try {
          await post("/team/delete", { team_ids: [team.team_id] });
          toast(`Team ${team.team_id} deleted.`);
          location.hash = "#/teams";
        } catch (error) { toast(error.message, { bad: true }); }
      },
    }, "Delete team")));
}

function editForm(team, names) {
  const blocked = input("blocked", { type: "checkbox", checked: team.blocked });
  const form = h("form", { class: "form-grid compact", novalidate: true, "data-testid": "team-edit" },
    field("Name", input("team_alias", { value: team.team_alias || "", placeholder: "optional" }), { wide: true }),
    ...limitFields(names, team),
    h("label", { class: "check" }, blocked, "Blocked: refuse every key of this team"),
    h("div", { class: "form-actions" }, h("button", { class: "button primary", type: "submit" }, "Save changes")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { team_id: team.team_id, ...values(form, { team_alias: "text", ...LIMIT_SPEC }, { clear: true }), blocked: blocked.checked };
    const saved = await submit(form, () => post("/team/update", body));
    if (saved) { toast(`Team ${team.team_id} saved.`); window.dispatchEvent(new HashChangeEvent("hashchange")); }
  });
  return card("Models, limits and budget", `Spent ${budget(team)}${team.budget_reset_at ? `; resets ${fmt.dateTime(team.budget_reset_at)}` : ""}.`, form);
}

function members(team) {
  const form = h("form", { class: "form-grid", novalidate: true, style: { gridTemplateColumns: "minmax(0,2fr) minmax(0,1fr) auto" } },
    field("User id", input("user_id", { placeholder: "e.g. alice", autocomplete: "off" })),
    field("Role", select("role", [["user", "user"], ["admin", "admin"]])),
    h("div", { class: "form-actions", style: { gridColumn: "auto", alignSelf: "end" } },
      h("button", { class: "button", type: "submit" }, "Add")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const member = values(form, { user_id: "text", role: "text" });
    const saved = await submit(form, () => post("/team/member_add", { team_id: team.team_id, member }), { conflictField: "user_id" });
    if (saved) { toast(`${member.user_id} added.`); window.dispatchEvent(new HashChangeEvent("hashchange")); }
  });
  const rows = team.members_with_roles.map((m) => [m.user_id, badge(m.role, m.role === "admin" ? "info" : null),
    h("button", { class: "button small danger", type: "button", onclick: async () => {
      try {
        await post("/team/member_delete", { team_id: team.team_id, user_id: m.user_id });
        window.dispatchEvent(new HashChangeEvent("hashchange"));
      } catch (error) { toast(error.message, { bad: true }); }
    } }, "Remove")]);
  return card("Members", "Users of this team and their role in it.",
    table([{ label: "User" }, { label: "Role" }, { label: "" }], rows, { empty: "No members." }), h("div", { class: "section" }, form));
}

function keys(list) {
  const rows = list.map((k) => [h("strong", {}, k.key_alias || "—"), h("code", {}, k.key_name || ""),
    fmt.usd(k.spend), k.blocked ? badge("Blocked", "bad") : badge("Active", "good")]);
  return card("Keys", h("span", {}, "Manage them on the ", h("a", { href: "#/keys" }, "Keys"), " page."),
    table([{ label: "Alias" }, { label: "Key" }, { label: "Spend", num: true }, { label: "Status" }], rows, { empty: "No keys yet." }));
}
