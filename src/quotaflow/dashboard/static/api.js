// The management API, called with the session cookie; every POST carries the CSRF token.

const CSRF = document.querySelector('meta[name="csrf-token"]')?.content || "";

export class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.param = error.param || null;
    this.code = error.code || null;
  }
}

async function call(method, path, { params, body } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const headers = { accept: "application/json" };
  if (method !== "GET") {
    headers["content-type"] = "application/json";
    headers["x-csrf-token"] = CSRF;
  }
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (response.status === 401) {
    location.assign("/ui/login");
    throw new ApiError(401, (data && data.error) || { message: "Log in again." });
  }
  if (!response.ok) {
    throw new ApiError(response.status, (data && data.error) || { message: text || response.statusText });
  }
  return { data, headers: response.headers };
}

export async function get(path, params) {
  return (await call("GET", path, { params })).data;
}

export async function getWithHeaders(path, params) {
  return call("GET", path, { params });
}

export async function post(path, body) {
  return (await call("POST", path, { body })).data;
}

/** Every key, whole objects, through /key/list's pages. */
export async function allKeys(params = {}) {
  const keys = [];
  for (let page = 1; ; page += 1) {
    const answer = await get("/key/list", { ...params, page, size: 100, return_full_object: true });
    keys.push(...answer.keys);
    if (page >= answer.total_pages) return keys;
  }
}

/** The model groups and deployments this gateway serves. */
export async function served() {
  const activity = await get("/dashboard/activity", { window: "1h" });
  return activity.served;
}
