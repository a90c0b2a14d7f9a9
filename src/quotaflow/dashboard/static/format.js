// Numbers, money, durations and dates as people read them.

const integer = new Intl.NumberFormat("en-US");
const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });

export function count(n) {
  return n === null || n === undefined ? "—" : integer.format(n);
}

export function short(n) {
  if (n === null || n === undefined) return "—";
  return Math.abs(n) < 10000 ? integer.format(Math.round(n)) : compact.format(n);
}

export function usd(n) {
  if (n === null || n === undefined) return "—";
  const digits = n !== 0 && Math.abs(n) < 1 ? 4 : 2;
  return "$" + n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function ms(n) {
  if (n === null || n === undefined) return "—";
  return n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${Math.round(n)} ms`;
}

export function percent(part, whole) {
  if (!whole) return "—";
  const p = (100 * part) / whole;
  return `${p >= 10 || p === 0 ? Math.round(p) : p.toFixed(1)}%`;
}

export function time(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function dateTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return `${d.toLocaleDateString("en-CA")} ${d.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit" })}`;
}

/** A bucket's label: the time for buckets within a day, else the date. */
export function bucketLabel(iso, bucketSeconds) {
  const d = new Date(iso);
  if (bucketSeconds < 86400 && bucketSeconds <= 3600) {
    return d.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
  }
  return d.toLocaleDateString("en-GB", { day: "2-digit", month: "short" }) +
    (bucketSeconds < 86400 ? " " + d.toLocaleTimeString("en-GB", { hour: "2-digit" }) + "h" : "");
}

export function day(iso) {
  return new Date(iso + "T00:00:00Z").toLocaleDateString("en-GB", { day: "2-digit", month: "short", timeZone: "UTC" });
}

/** YYYY-MM-DD of a Date, in UTC. */
export function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

export function limit(n) {
  return n === null || n === undefined ? "∞" : integer.format(n);
}
