// Keys: create (the key is shown once, with a copy button), edit limits, block, unblock,
// regenerate, delete; spend per key. Data: /key/list, /key/generate, /key/update, /key/block,
// /key/unblock, /key/regenerate, /key/delete, /team/list.

import { allKeys, get, post, served } from "../api.js";
import { badge, card, h, table, toast } from "../dom.js";
import { field, input, LIMIT_SPEC, limitFields, select, submit, values } from "../forms.js";
import * as fmt from "../format.js";

function spend(key) {
  const spent = fmt.usd(key.spend);
  return key.max_budget === null ? spent : `${spent} / ${fmt.usd(key.max_budget)}${key.budget_duration ? ` per ${key.budget_duration}` : ""}`;
}

// A key just made, until the page has shown it (kept in memory only, never in storage).
let fresh = null;

function rerender() {
  window.dispatchEvent(new HashChangeEvent("hashchange"));
}

export async function render(root) {
  const [keys, teams, groups] = await Promise.all([allKeys(), get("/team/list"), served()]);
  const names = groups.map((g) => g.name);
  const reveal = h("div", {});
  if (fresh) {
    const { key, alias } = fresh;
    fresh = null; // shown once: a later visit to this page does not show it again
    reveal.append(secretPanel(key, alias, () => reveal.replaceChildren()));
  }
  root.append(h("div", { class: "page-head" },
    h("div", {}, h("h1", {}, "Keys"),
      h("p", { class: "muted" }, "Virtual keys callers use instead of provider keys. A key is shown once, when it is made.")),
    h("div", { class: "toolbar" },
      h("button", { class: "button primary", type: "button", "data-testid": "new-key",
        onclick: () => { createCard.hidden = !createCard.hidden; createCard.querySelector("input")?.focus(); } }, "New key"))),
  reveal);
  const createCard = createForm(teams, names);
  createCard.hidden = keys.length > 0;
  root.append(createCard);

  const editor = h("div", {});
  const rows = keys.map((key) => h("tr", { "data-key": key.key_alias || key.token },
    h("td", {}, h("strong", {}, key.key_alias || "—"), h("div", {}, h("code", { class: "muted" }, key.key_name || ""))),
    h("td", {}, key.team_id ? h("a", { href: `#/teams/${encodeURIComponent(key.team_id)}` }, key.team_id) : h("span", { class: "muted" }, "—")),
    h("td", {}, key.models.length ? key.models.map((m) => h("span", { class: "chip" }, m)) : h("span", { class: "muted" }, "team's")),
    h("td", { class: "num", "data-testid": "key-spend" }, spend(key)),
    h("td", { class: "num muted hide-phone" }, `${fmt.limit(key.rpm_limit)} rpm · ${fmt.limit(key.tpm_limit)} tpm`),
    h("td", { class: "muted hide-phone" }, key.expires ? fmt.dateTime(key.expires) : "never"),
    h("td", { "data-testid": "key-status" }, key.blocked ? badge("Blocked", "bad") : badge("Active", "good")),
    h("td", {}, h("div", { class: "actions" },
      h("button", { class: "button small", type: "button", "data-action": "edit",
        onclick: () => { editor.replaceChildren(editForm(key, names)); editor.scrollIntoView({ behavior: "smooth", block: "nearest" }); } }, "Edit"),
      h("button", { class: "button small", type: "button", "data-action": key.blocked ? "unblock" : "block",
        onclick: () => act(key.blocked ? "/key/unblock" : "/key/block", key, key.blocked ? "unblocked" : "blocked") },
        key.blocked ? "Unblock" : "Block"),
      h("button", { class: "button small", type: "button", "data-action": "regenerate",
        onclick: () => regenerate(key) }, "Regenerate"),
      h("button", { class: "button small danger", type: "button", "data-action": "delete",
        onclick: () => remove(key) }, "Delete"))),
  ));
  root.append(
    h("section", { class: "card section" },
      table([{ label: "Key" }, { label: "Team" }, { label: "Models" }, { label: "Spend / budget", num: true },
        { label: "Limits", num: true }, { label: "Expires" }, { label: "Status" }, { label: "" }], rows,
      { testid: "table-keys", empty: "No keys yet: create one above." })),
    editor);
}

function name(key) {
  return key.key_alias || key.key_name || "the key";
}

async function act(path, key, done) {
  try {
    await post(path, { key: key.token });
    toast(`Key ${name(key)} ${done}.`);
    rerender();
  } catch (error) { toast(error.message, { bad: true }); }
}

async function regenerate(key) {
  if (!confirm(`Replace ${name(key)} with a new key? The old one stops working at once.`)) return;
  try {
    const made = await post("/key/regenerate", { key: key.token });
    fresh = { key: made.key, alias: made.key_alias };
    rerender();
  } catch (error) { toast(error.message, { bad: true }); }
}

async function remove(key) {
  if (!confirm(`Delete ${name(key)}? Calls with it will be refused.`)) return;
  try {
    await post("/key/delete", { keys: [key.token] });
    toast(`Key ${name(key)} deleted.`);
    rerender();
  } catch (error) { toast(error.message, { bad: true }); }
}

function secretPanel(key, alias, close) {
  const value = h("input", { readonly: true, value: key, "data-testid": "new-key-value", "aria-label": "The new key",
    onfocus: (event) => event.target.select() });
  const copy = h("button", { class: "button primary", type: "button", "data-testid": "copy-key", onclick: async () => {
    try { await navigator.clipboard.writeText(key); } catch { value.select(); document.execCommand("copy"); }
    copy.textContent = "Copied";
  } }, "Copy");
  return h("section", { class: "secret", "data-testid": "new-key-panel" },
    h("h2", {}, `New key${alias ? ` ${alias}` : ""}: copy it now`),
    h("p", { class: "muted", style: { margin: "0.25rem 0 0" } }, "It is shown only this once; the gateway keeps only its hash."),
    h("div", { class: "copy-row" }, value, copy,
      h("button", { class: "button ghost", type: "button", onclick: close }, "Done")));
}

function createForm(teams, names) {
  const form = h("form", { class: "form-grid", novalidate: true, "data-testid": "key-form" },
    field("Alias", input("key_alias", { placeholder: "e.g. dev-ci", autocomplete: "off" })),
    field("Team", select("team_id", [["", "— none —"], ...teams.map((t) => [t.team_id, t.team_alias ? `${t.team_id} (${t.team_alias})` : t.team_id])])),
    field("Expires after", input("duration", { placeholder: "never (e.g. 30d)", autocomplete: "off" })),
    field("User id", input("user_id", { placeholder: "optional", autocomplete: "off" })),
    ...limitFields(names),
    h("div", { class: "form-actions" }, h("button", { class: "button primary", type: "submit" }, "Create key")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = values(form, { key_alias: "text", team_id: "text", duration: "text", user_id: "text", ...LIMIT_SPEC });
    const made = await submit(form, () => post("/key/generate", body), { conflictField: "key_alias" });
    if (made) {
      fresh = { key: made.key, alias: made.key_alias };
      rerender();
    }
  });
  return card("New key", "Limits here apply on top of its team's.", form);
}

function editForm(key, names) {
  const form = h("form", { class: "form-grid", novalidate: true, "data-testid": "key-edit" },
    field("Alias", input("key_alias", { value: key.key_alias || "", autocomplete: "off" })),
    ...limitFields(names, key),
    h("div", { class: "form-actions" },
      h("button", { class: "button ghost", type: "button", onclick: () => form.closest(".card").remove() }, "Cancel"),
      h("button", { class: "button primary", type: "submit" }, "Save changes")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { key: key.token, ...values(form, { key_alias: "text", ...LIMIT_SPEC }, { clear: true }) };
    if (body.key_alias === null) delete body.key_alias;
    const saved = await submit(form, () => post("/key/update", body), { conflictField: "key_alias" });
    if (saved) { toast(`Key ${name(saved)} saved.`); rerender(); }
  });
  return h("div", { class: "section" }, card(`Edit ${name(key)}`, `Spent ${spend(key)}.`, form));
}
