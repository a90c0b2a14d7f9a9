// The dashboard's router: #/<page> picks a module under pages/ and renders it into <main>.

import { h } from "./dom.js";

const PAGES = {
  overview: () => import("./pages/overview.js"),
  deployments: () => import("./pages/deployments.js"),
  teams: () => import("./pages/teams.js"),
  keys: () => import("./pages/keys.js"),
  usage: () => import("./pages/usage.js"),
  logs: () => import("./pages/logs.js"),
};

const root = document.getElementById("page");
let cleanup = null;
let generation = 0;

function route() {
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  return { name: PAGES[name] ? name : "overview", args: rest.map(decodeURIComponent) };
}

async function show() {
  const { name, args } = route();
  const mine = ++generation;
  if (cleanup) { try { cleanup(); } catch { /* the old page is gone anyway */ } cleanup = null; }
  document.querySelectorAll("#nav a").forEach((a) => {
    a.classList.toggle("active", a.dataset.page === name);
    if (a.dataset.page === name) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  });
  const title = name[0].toUpperCase() + name.slice(1);
  document.title = `${title} · quotaflow`;
  root.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  root.dataset.page = name;
  root.removeAttribute("data-ready");
  try {
    const module = await PAGES[name]();
    const view = h("div", {});
    const stop = await module.render(view, { args, isCurrent: () => mine === generation });
    if (mine !== generation) { if (typeof stop === "function") stop(); return; }
    cleanup = typeof stop === "function" ? stop : null;
    root.replaceChildren(view);
    root.dataset.ready = name;
  } catch (error) {
    if (mine !== generation) return;
    root.replaceChildren(h("section", { class: "card" },
      h("h2", {}, "This page could not load"),
      h("p", { class: "form-error" }, error.message || String(error))));
    root.dataset.ready = name;
  }
}

window.addEventListener("hashchange", show);
if (!location.hash) history.replaceState(null, "", "#/overview");
show();
