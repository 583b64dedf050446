// Calls to Regent's HTTP API from the console: same origin, the session
// cookie goes along, and every state-changing request carries the
// session's CSRF token. Errors are thrown as ApiError with the server's
// `{"error": {"code", "message", ...}}`, never swallowed.

let csrfToken = null;
let onUnauthorized = () => {};

export function setCsrfToken(token) {
  csrfToken = token;
}

/** Called when a request answers 401: the session has ended. */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export class ApiError extends Error {
  constructor(status, body, method, path) {
    const err = body && typeof body === 'object' && body.error ? body.error : null;
    const message = err && err.message ? err.message
      : typeof body === 'string' && body ? body
      : `HTTP ${status}`;
    super(message);
    this.status = status;
    this.code = err ? err.code : null;
    this.gate = err ? err.gate : null;
    this.details = err ? err.details : null;
    this.method = method;
    this.path = path;
  }

  /** The text shown to the person: what failed, how, and the server's words. */
  describe() {
    const code = this.code ? `${this.code}, ` : '';
    let where = this.path;
    try {
      where = decodeURI(this.path);
    } catch {
      /* keep it as sent */
    }
    return `${this.method} ${where} failed (${code}HTTP ${this.status}): ${this.message}`;
  }
}

/**
 * `method` `path` with an optional JSON `body` (or a FormData). Returns the
 * parsed JSON reply (null for an empty one); throws ApiError otherwise.
 */
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (method !== 'GET' && method !== 'HEAD') {
    if (csrfToken) headers['X-CSRF-Token'] = csrfToken;
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    const err = new ApiError(0, `the server could not be reached (${e.message})`, method, path);
    err.code = 'network';
    throw err;
  }
  const text = await response.text();
  let parsed = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  if (!response.ok) {
    const err = new ApiError(response.status, parsed, method, path);
    if (response.status === 401 && path !== '/api/session') onUnauthorized(err);
    throw err;
  }
  return parsed;
}

export const get = (path) => api('GET', path);

/** GET `path`: the reply's exact text beside its parsed value (for hashing what the server sent). */
export async function getRaw(path) {
  const response = await fetch(path, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } });
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  if (!response.ok) {
    const err = new ApiError(response.status, parsed, 'GET', path);
    if (response.status === 401) onUnauthorized(err);
    throw err;
  }
  return { value: parsed, text };
}
export const post = (path, body) => api('POST', path, body === undefined ? {} : body);
export const patch = (path, body) => api('PATCH', path, body);
export const put = (path, body) => api('PUT', path, body);
export const del = (path) => api('DELETE', path);

/** A path segment, escaped. */
export const seg = (s) => encodeURIComponent(s);
