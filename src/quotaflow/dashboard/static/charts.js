// Charts drawn as SVG by hand: stacked bars and lines over time, and a split bar.
// Each chart fills its container's width, redraws when that width changes, and shows
// a tooltip for the bucket under the pointer (or finger).

import { h, s } from "./dom.js";

export const PALETTE = [
  "#4f46e5", "#f59e0b", "#10b981", "#ef4444", "#0ea5e9", "#a855f7",
  "#84cc16", "#ec4899", "#14b8a6", "#f97316", "#64748b", "#6366f1",
];

/** One color per name, stable for the names given in this order. */
export function colors(names) {
  const map = new Map();
  names.forEach((name, i) => map.set(name, PALETTE[i % PALETTE.length]));
  return (name) => {
    if (!map.has(name)) map.set(name, PALETTE[map.size % PALETTE.length]);
    return map.get(name);
  };
}

function niceStep(max, ticks) {
  const raw = max / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = raw / power;
  const nice = unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 2.5 ? 2.5 : unit <= 5 ? 5 : 10;
  return nice * power;
}

function scale(max, ticks = 4) {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const step = niceStep(max, ticks);
  return { top: Math.ceil(max / step) * step, step };
}

function observe(container, draw) {
  let width = 0;
  const redraw = () => {
    const next = Math.round(container.clientWidth);
    if (next && next !== width) {
      width = next;
      draw(width);
    }
  };
  redraw();
  if (!width) draw(640);
  const observer = new ResizeObserver(() => requestAnimationFrame(redraw));
  observer.observe(container);
  return () => observer.disconnect();
}

function tooltipFor(container) {
  const tip = h("div", { class: "tooltip", hidden: true });
  container.append(tip);
  return {
    show(x, title, rows) {
      tip.replaceChildren(
        h("div", { style: { fontWeight: "600", marginBottom: "0.25rem" } }, title),
        ...rows.map(([color, name, value]) =>
          h("div", { class: "row" },
            h("span", {}, color ? h("i", { class: "swatch", style: { background: color } }) : null, name),
            h("span", { class: "num" }, value))),
      );
      tip.hidden = false;
      const width = container.clientWidth;
      const tipWidth = tip.offsetWidth;
      const left = Math.min(Math.max(x - tipWidth / 2, 0), width - tipWidth);
      tip.style.left = `${left}px`;
      tip.style.top = "4px";
    },
    hide() { tip.hidden = true; },
  };
}

function legend(series) {
  return h("div", { class: "legend" },
    series.map((serie) =>
      h("span", {}, h("i", { class: "swatch", style: { background: serie.color } }), serie.name)));
}

/**
 * A time series: bars (stacked by default) or lines.
 * options: {labels, series: [{name, color, values}], kind: "bar"|"line", format, height, empty}
 */
export function timeChart(container, options) {
  const { labels, series, kind = "bar", format = String, empty = "No requests in this window." } = options;
  const stacked = kind === "bar" && options.stacked !== false;
  container.replaceChildren();
  container.classList.add("chart");
  const holder = h("div", {});
  container.append(holder);
  if (series.length > 1 || options.legend) container.append(legend(series));
  const tip = tooltipFor(container);
  const totals = labels.map((_, i) => series.reduce((sum, serie) => sum + (serie.values[i] || 0), 0));
  const peak = stacked ? Math.max(0, ...totals)
    : Math.max(0, ...series.flatMap((serie) => serie.values.filter((v) => v !== null)));

  return observe(container, (width) => {
    const height = options.height || (width < 500 ? 190 : 240);
    const { top, step } = scale(peak);
    const left = Math.max(34, format(top).length * 7 + 12);
    const margin = { top: 10, right: 8, bottom: 24, left };
    const plotW = width - margin.left - margin.right;
    const plotH = height - margin.top - margin.bottom;
    const y = (v) => margin.top + plotH - (v / top) * plotH;
    const band = plotW / Math.max(labels.length, 1);
    const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
      "aria-label": options.title || "chart" });
    const axis = s("g", { class: "axis" });
    for (let v = 0; v <= top + step / 2; v += step) {
      axis.append(
        s("line", { class: v === 0 ? "base-line" : "grid-line", x1: margin.left, x2: width - margin.right, y1: y(v), y2: y(v) }),
        s("text", { x: margin.left - 6, y: y(v) + 4, "text-anchor": "end" }, format(v)),
      );
    }
    const every = Math.max(1, Math.ceil(labels.length / Math.max(1, Math.floor(plotW / 64))));
    labels.forEach((label, i) => {
      if ((labels.length - 1 - i) % every !== 0) return; // the newest bucket is always labelled
      axis.append(s("text", { x: margin.left + band * (i + 0.5), y: height - 6, "text-anchor": "middle" }, label));
    });
    svg.append(axis);
    if (peak === 0) {
      svg.append(s("text", { class: "no-data", x: margin.left + plotW / 2, y: margin.top + plotH / 2, "text-anchor": "middle" }, empty));
    } else if (kind === "bar") {
      const barW = Math.max(1, Math.min(band * 0.72, 42));
      labels.forEach((_, i) => {
        let base = 0;
        series.forEach((serie, j) => {
          const value = serie.values[i] || 0;
          if (!value) return;
          const x = margin.left + band * i + (band - (stacked ? barW : barW)) / 2;
          const w = stacked ? barW : barW / series.length;
          const from = stacked ? base : 0;
          svg.append(s("rect", {
            x: stacked ? x : x + w * j, y: y(from + value), width: w,
            height: Math.max(y(from) - y(from + value), 0.5), fill: serie.color, rx: 2,
          }));
          base += value;
        });
      });
    } else {
      series.forEach((serie) => {
        let path = "";
        serie.values.forEach((value, i) => {
          if (value === null || value === undefined) return;
          const x = margin.left + band * (i + 0.5);
          const prev = serie.values[i - 1];
          path += `${path && prev !== null && prev !== undefined ? "L" : "M"}${x.toFixed(1)},${y(value).toFixed(1)}`;
          svg.append(s("circle", { cx: x, cy: y(value), r: 2.5, fill: serie.color }));
        });
        svg.append(s("path", { d: path, fill: "none", stroke: serie.color, "stroke-width": 2, "stroke-linejoin": "round" }));
      });
    }
    const hover = s("g", {});
    const marker = s("rect", { x: 0, y: margin.top, width: band, height: plotH, fill: "#4f46e5", opacity: 0, "pointer-events": "none" });
    hover.append(marker);
    labels.forEach((label, i) => {
      const x = margin.left + band * i;
      const area = s("rect", { x, y: margin.top, width: band, height: plotH, fill: "transparent" });
      const show = () => {
        marker.setAttribute("x", x);
        marker.setAttribute("opacity", 0.06);
        const rows = series.map((serie) => [serie.color, serie.name, serie.values[i] === null ? "—" : format(serie.values[i] || 0)]);
        if (stacked && series.length > 1) rows.push([null, "Total", format(totals[i])]);
        tip.show(x + band / 2, options.tooltipTitle ? options.tooltipTitle(i) : label, rows);
      };
      area.addEventListener("pointerenter", show);
      area.addEventListener("pointerdown", show);
      hover.append(area);
    });
    svg.addEventListener("pointerleave", () => { tip.hide(); marker.setAttribute("opacity", 0); });
    svg.append(hover);
    holder.replaceChildren(svg);
  });
}

/**
 * Shares of a whole, as one bar per group: [{title, parts: [{name, value, color, label}]}].
 * The rows under each bar carry data-testid="split-<name>" and the value as text.
 */
export function splitBars(container, groups, { format = String, unit = "requests" } = {}) {
  container.replaceChildren();
  container.classList.add("split");
  for (const group of groups) {
    const total = group.parts.reduce((sum, part) => sum + part.value, 0);
    const bar = h("div", { class: "split-bar", role: "img",
      "aria-label": `${group.title}: ` + group.parts.map((p) => `${p.name} ${p.value}`).join(", ") });
    const rows = h("div", { class: "split-rows" });
    for (const part of group.parts) {
      if (total > 0 && part.value > 0) {
        bar.append(h("div", { title: `${part.name}: ${format(part.value)} ${unit}`,
          style: { width: `${(100 * part.value) / total}%`, background: part.color } }));
      }
      const share = total ? Math.round((1000 * part.value) / total) / 10 : 0;
      rows.append(
        h("i", { class: "swatch", style: { background: part.color } }),
        h("span", {}, part.label || part.name),
        h("span", { class: "num", "data-testid": `split-${part.name}` }, format(part.value)),
        h("span", { class: "num muted" }, total ? `${share}%` : "—"),
      );
    }
    container.append(h("div", { class: "split-group" },
      h("div", { class: "split-title" }, h("strong", {}, group.title),
        h("span", { class: "muted" }, `${format(total)} ${unit}`)),
      bar, rows));
  }
}
