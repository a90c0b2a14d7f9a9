// Forms whose only validator is the management API: its 400 names the field in error.param,
// and the message is shown beside that field. Nothing is saved unless the API accepted it all.

import { h } from "./dom.js";
import { ApiError } from "./api.js";

/** A labelled input with a slot for its error. */
export function field(label, input, { hint, wide = false, full = false } = {}) {
  const name = input.getAttribute("name");
  const error = h("p", { class: "field-error", "data-error-for": name, role: "alert", hidden: true });
  const classes = ["field", wide ? "wide" : "", full ? "full" : ""].filter(Boolean).join(" ");
  return h("label", { class: classes }, h("span", {}, label), input, hint ? h("small", {}, hint) : null, error);
}

export function input(name, attrs = {}) {
  return h("input", { name, id: attrs.id || `f-${name}-${Math.random().toString(36).slice(2, 7)}`, ...attrs });
}

export function select(name, options, attrs = {}) {
  return h("select", { name, ...attrs },
    options.map(([value, label]) => h("option", { value }, label)));
}

export function clearErrors(form) {
  form.querySelectorAll("[data-error-for]").forEach((el) => { el.hidden = true; el.textContent = ""; });
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  const general = form.querySelector(".form-error");
  if (general) general.hidden = true;
}

/** Show an API error beside its field (or above the buttons when it names none). */
export function showError(form, error, { conflictField } = {}) {
  let param = error instanceof ApiError ? error.param : null;
  if (!param && error instanceof ApiError && error.status === 409) param = conflictField;
  const name = param ? param.split(".")[0] : null;
  const slot = name ? form.querySelector(`[data-error-for="${CSS.escape(name)}"]`) : null;
  if (slot) {
    slot.textContent = error.message;
    slot.hidden = false;
    const control = form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (control) { control.setAttribute("aria-invalid", "true"); control.focus(); }
    return;
  }
  let general = form.querySelector(".form-error");
  if (!general) {
    general = h("p", { class: "form-error", role: "alert" });
    const actions = form.querySelector(".form-actions");
    (actions ? actions.parentNode : form).insertBefore(general, actions || null);
  }
  general.textContent = error.message;
  general.hidden = false;
}

/**
 * The form's values for the API. spec: {name: "text"|"number"|"list"|"bool"};
 * empty fields are left out (or sent as null with {clear: true}).
 */
export function values(form, spec, { clear = false } = {}) {
  const body = {};
  for (const [name, kind] of Object.entries(spec)) {
    const control = form.elements.namedItem(name);
    if (!control) continue;
    if (kind === "bool") { body[name] = control.checked; continue; }
    const raw = control.value.trim();
    if (raw === "") {
      if (clear) body[name] = kind === "list" ? [] : null;
      continue;
    }
    if (kind === "number") {
      const n = Number(raw);
      body[name] = Number.isFinite(n) ? n : raw;
    } else if (kind === "list") {
      body[name] = raw.split(",").map((part) => part.trim()).filter(Boolean);
    } else {
      body[name] = raw;
    }
  }
  return body;
}

/** Run an API action for a form: disable it meanwhile, show errors beside the fields. */
export async function submit(form, action, options = {}) {
  clearErrors(form);
  const buttons = [...form.querySelectorAll("button")];
  buttons.forEach((b) => { b.disabled = true; });
  try {
    return await action();
  } catch (error) {
    showError(form, error, options);
    return null;
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

/** The inputs every key and team form shares: models, budget, rate limits. */
export function limitFields(models, current = {}) {
  const val = (v) => (v === null || v === undefined ? "" : String(v));
  return [
    field("Models", input("models", { value: (current.models || []).join(", "), placeholder: "all models", list: "served-models", autocomplete: "off" }),
      { hint: models.length ? `Comma-separated. Served: ${models.join(", ")}` : "Comma-separated; empty means every model.", wide: true }),
    field("Max budget (USD)", input("max_budget", { type: "number", step: "any", inputmode: "decimal", value: val(current.max_budget), placeholder: "no limit" })),
    field("Budget period", input("budget_duration", { value: val(current.budget_duration), placeholder: "e.g. 30d, 1mo" })),
    field("Requests / min", input("rpm_limit", { type: "number", inputmode: "numeric", value: val(current.rpm_limit), placeholder: "unlimited" })),
    field("Tokens / min", input("tpm_limit", { type: "number", inputmode: "numeric", value: val(current.tpm_limit), placeholder: "unlimited" })),
    field("Parallel requests", input("max_parallel_requests", { type: "number", inputmode: "numeric", value: val(current.max_parallel_requests), placeholder: "unlimited" })),
    h("datalist", { id: "served-models" }, models.map((m) => h("option", { value: m }))),
  ];
}

export const LIMIT_SPEC = {
  models: "list", max_budget: "number", budget_duration: "text",
  rpm_limit: "number", tpm_limit: "number", max_parallel_requests: "number",
};
