// Building elements without innerHTML: every value becomes text, never markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function fill(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (name === "style" && typeof value === "object") {
      Object.assign(el.style, value);
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** An HTML element: h("td", {class: "num"}, "12"). */
export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** A table: columns [{label, num}], rows of cells (values or nodes). */
export function table(columns, rows, { empty = "Nothing yet.", testid } = {}) {
  const head = h("tr", {}, columns.map((c) => h("th", { class: c.num ? "num" : null }, c.label)));
  const body = rows.length
    ? rows.map((row) => (row instanceof Node ? row : h("tr", {}, row.map((cell, i) =>
        h("td", { class: columns[i] && columns[i].num ? "num" : null }, cell)))))
    : [h("tr", {}, h("td", { class: "empty", colspan: columns.length }, empty))];
  return h("div", { class: "table-wrap" },
    h("table", { "data-testid": testid }, h("thead", {}, head), h("tbody", {}, body)));
}

export function card(title, subtitle, ...children) {
  return h("section", { class: "card" },
    h("div", { class: "card-head" },
      h("div", {}, h("h2", {}, title), subtitle ? h("p", { class: "muted" }, subtitle) : null)),
    ...children);
}

let toastTimer;
/** A short message in the corner. */
export function toast(message, { bad = false } = {}) {
  document.querySelectorAll(".toast").forEach((t) => t.remove());
  const el = h("div", { class: bad ? "toast bad" : "toast", role: "status" }, message);
  document.body.append(el);
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.remove(), 4000);
}

export function badge(text, tone) {
  return h("span", { class: tone ? `badge ${tone}` : "badge" }, text);
}
