// HTTP helpers: JSON calls with the server's {"error": {code, message}} shape, and a POST event-stream reader.

export class ApiError extends Error {
  constructor(status, code, message, hint) {
    super(message);
    this.status = status;
    this.code = code;
    this.hint = hint;
  }
}

let onUnauthorized = null;
/** Register what to do on 401 (show the token dialog); it resolves when the user has signed in. */
export function setUnauthorizedHandler(handler) { onUnauthorized = handler; }

async function errorOf(response) {
  try {
    const body = await response.json();
    if (body && body.error) return new ApiError(response.status, body.error.code, body.error.message, body.error.hint);
  } catch (_) { /* not JSON */ }
  return new ApiError(response.status, 'http_error', `${response.status} ${response.statusText}`);
}

/** fetch + JSON; retries once after a successful sign-in. */
export async function api(path, { method = 'GET', json, form, signal } = {}, retried = false) {
  const init = { method, signal, headers: { accept: 'application/json' }, credentials: 'same-origin' };
  if (json !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = form;
  }
  const response = await fetch(path, init);
  if (response.status === 401 && onUnauthorized && !retried) {
    await onUnauthorized();
    return api(path, { method, json, form, signal }, true);
  }
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return null;
  return response.json();
}

/** POST and read a text/event-stream body; calls onEvent(name, data) per event. */
export async function postStream(path, { json, form, signal }, onEvent, retried = false) {
  const init = { method: 'POST', signal, credentials: 'same-origin', headers: { accept: 'text/event-stream' } };
  if (json !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(json);
  } else {
    init.body = form;
  }
  const response = await fetch(path, init);
  if (response.status === 401 && onUnauthorized && !retried) {
    await onUnauthorized();
    return postStream(path, { json, form, signal }, onEvent, true);
  }
  if (!response.ok) throw await errorOf(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) name = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
      }
      if (data.length) onEvent(name, JSON.parse(data.join('\n')));
    }
  }
}

export const itemUrl = {
  thumbnail: (id, size = 320) => `/api/items/${encodeURIComponent(id)}/thumbnail?size=${size}`,
  preview: (id, size = 1200) => `/api/items/${encodeURIComponent(id)}/preview?size=${size}`,
  page: (id, size = 1200) => `/api/items/${encodeURIComponent(id)}/page?size=${size}`,
  file: (id) => `/api/items/${encodeURIComponent(id)}/file`,
};
