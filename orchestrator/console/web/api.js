// The console's only way to the orchestrator: POST /api/v1/<Method> with the
// request as proto3 JSON, answered with the response as proto3 JSON or an
// error {code, message}. The bearer token lives in sessionStorage only: it
// is gone when the tab closes and never appears in a URL.

const TOKEN_KEY = 'saga-console-token';

export const session = {
  token() {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  },
  signIn(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

export class ApiError extends Error {
  constructor(code, message, httpStatus) {
    super(message);
    this.code = code;
    this.httpStatus = httpStatus;
  }
}

let onUnauthenticated = () => {};

// Called when the server refuses the token (or its absence).
export function setUnauthenticatedHandler(handler) {
  onUnauthenticated = handler;
}

export async function call(method, request = {}) {
  const headers = {'Content-Type': 'application/json'};
  const token = session.token();
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(`/api/v1/${method}`, {
      method: 'POST',
      headers,
      body: JSON.stringify(request),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (e) {
    throw new ApiError('UNAVAILABLE', `cannot reach the orchestrator (${e.message})`, 0);
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = null;
  }
  if (!response.ok) {
    const error = new ApiError(
        (body && body.code) || `HTTP_${response.status}`,
        (body && body.message) || text || response.statusText, response.status);
    if (error.code === 'UNAUTHENTICATED') onUnauthenticated(error);
    throw error;
  }
  return body || {};
}

// True when the server does not know the method (an older orchestrator):
// pages then leave out what needs it.
export function isMissingMethod(error) {
  return error instanceof ApiError &&
      (error.code === 'UNIMPLEMENTED' || error.httpStatus === 404 || error.httpStatus === 405);
}
