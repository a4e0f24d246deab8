// The small JSON HTTP API (sign-up, sign-in, profile). Errors keep the server's stable code.
export class ApiError extends Error {
  constructor(code, message, details = {}) {
    super(message);
    this.code = code;
    this.details = details;
  }
}

export async function request(method, path, { token, body } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    // State changes always carry a JSON body: the server refuses what a cross-site form could send.
    if (method !== "GET" && body === undefined) {
      body = {};
      headers["Content-Type"] = "application/json";
    }
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError("network", "");
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok || data.ok === false) {
    const error = data.error || {};
    throw new ApiError(error.code || "http_error", error.message || response.statusText, error.details);
  }
  return data;
}

export function register(profile) {
  return request("POST", "/api/auth/register", { body: profile });
}

export function login(username, password) {
  return request("POST", "/api/auth/login", { body: { username, password } });
}

export function fetchMe(token) {
  return request("GET", "/api/me", { token });
}

export function logout(token) {
  return request("POST", "/api/auth/logout", { token });
}

/** What safety monitoring reads (native lexicons, via translation, not at all); the same for everyone. */
let coverage = null;
export function safetyCoverage() {
  coverage ??= request("GET", "/api/safety/coverage").catch(() => { coverage = null; return null; });
  return coverage;
}
