// The dashboard's only way to the server: the public GraphQL API over HTTP (`/graphql`) and its
// subscriptions over WebSocket (`/graphql/ws`, graphql-transport-ws through the vendored
// graphql-ws client). The token the user pasted is kept in this tab's sessionStorage only (never in
// storage that outlives the tab), and sent as `Authorization: Bearer …`.

const TOKEN_KEY = 'securescore.token';

/** An error the API answered (or a failure to reach it), with a message meant for people. */
export class ApiError extends Error {
  constructor(message, { code = 'INTERNAL', status = 0, details = [], field = [] } = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.details = details;
    this.field = field;
  }
}

/** Validation problems of a mutation (its `userErrors`), one message per problem. */
export class UserErrors extends Error {
  constructor(userErrors) {
    super(userErrors.map((e) => e.message).join(' '));
    this.name = 'UserErrors';
    this.userErrors = userErrors;
    this.code = userErrors[0]?.code ?? 'BAD_USER_INPUT';
  }
}

/** What a person should read for an error code, besides the server's own message. */
const ADVICE = {
  UNAUTHENTICATED: 'This token was not accepted: it may be mistyped, revoked or expired. Sign out and paste a valid token.',
  FORBIDDEN: 'Your role on this tenant does not allow this.',
  NOT_FOUND: 'Not found, or not visible with this token.',
  RATE_LIMITED: 'Too many requests right now. Wait a moment and try again.',
  CONFLICT: 'Someone changed this in the meantime. Reload it and try again.',
  STATUS_LOCKED: 'This status is set by the product itself and cannot be changed by hand.',
  DEVICE_STATUS_MANAGED_EXTERNALLY: 'Device actions are managed in Defender for Endpoint: record an exception instead.',
  NOTHING_TO_UNDO: 'There is no status change to undo.',
  NETWORK: 'The server could not be reached. Check your connection; the page retries on its own.',
  INTERNAL: 'Something went wrong on the server. Try again; if it persists, tell your administrator with the request id.',
};

/** A sentence for an error, for people: the server's message and what to do about it. */
export function describeError(err) {
  if (err instanceof UserErrors) return err.message;
  const advice = ADVICE[err?.code];
  if (!err?.message) return advice ?? 'Unknown error.';
  if (!advice || err.code === 'BAD_USER_INPUT') return err.message;
  return `${advice} (${err.message})`;
}

let token = sessionStorage.getItem(TOKEN_KEY);
const signOutListeners = new Set();

export function getToken() {
  return token;
}

export function setToken(value) {
  token = value;
  sessionStorage.setItem(TOKEN_KEY, value);
  resetSocket();
}

/** Forgets the token and closes the live connection. */
export function clearToken() {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  resetSocket();
  for (const listener of signOutListeners) listener();
}

export function onSignOut(listener) {
  signOutListeners.add(listener);
  return () => signOutListeners.delete(listener);
}

/**
 * Runs a query or mutation and returns its `data`; throws an `ApiError` for errors in the
 * response (the first error's message and `extensions.code`) or a failed request.
 */
export async function gql(query, variables = {}, { signal } = {}) {
  let response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/graphql-response+json, application/json',
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify({ query, variables }),
      signal,
    });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError('The request did not reach the server.', { code: 'NETWORK' });
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`The server answered HTTP ${response.status} without a GraphQL response.`, {
      code: response.status === 429 ? 'RATE_LIMITED' : 'INTERNAL',
      status: response.status,
    });
  }
  if (body.errors?.length) {
    const first = body.errors[0];
    throw new ApiError(first.message, {
      code: first.extensions?.code ?? 'INTERNAL',
      status: response.status,
      details: body.errors,
    });
  }
  return body.data;
}

/**
 * Runs a mutation whose payload is `data[field]` and returns that payload; throws `UserErrors`
 * when it has any, so callers show them like any other error.
 */
export async function mutate(query, variables, field) {
  const data = await gql(query, variables);
  const payload = data[field];
  if (payload?.userErrors?.length) throw new UserErrors(payload.userErrors);
  return payload;
}

/** Downloads `path` (a CSV or JSON export) with the token, as a file named `filename`. */
export async function download(path, filename) {
  if (!path.startsWith('/export/')) throw new ApiError(`Not an export of the API: ${path}`, { code: 'BAD_USER_INPUT' });
  let response;
  try {
    response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
  } catch {
    throw new ApiError('The request did not reach the server.', { code: 'NETWORK' });
  }
  if (!response.ok) {
    let error = {};
    try {
      error = (await response.json()).error ?? {};
    } catch {
      // not JSON: the status says enough
    }
    throw new ApiError(error.message ?? `HTTP ${response.status}`, {
      code: error.code ?? 'INTERNAL',
      status: response.status,
    });
  }
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// --- subscriptions -----------------------------------------------------------------------------

let socket = null;
const socketListeners = new Set();
let socketState = 'idle';

function setSocketState(state) {
  socketState = state;
  for (const listener of socketListeners) listener(state);
}

/** The live connection's state: `idle`, `connecting`, `live` or `retrying`. */
export function liveState() {
  return socketState;
}

export function onLiveState(listener) {
  socketListeners.add(listener);
  return () => socketListeners.delete(listener);
}

function client() {
  if (socket) return socket;
  const url = new URL('/graphql/ws', window.location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  // `graphqlWs` is the vendored UMD build (index.html loads it before this module).
  socket = window.graphqlWs.createClient({
    url: url.href,
    lazy: true,
    keepAlive: 15_000,
    retryAttempts: Infinity,
    shouldRetry: () => true,
    connectionParams: () => ({ Authorization: `Bearer ${token}` }),
    on: {
      connecting: () => setSocketState(socketState === 'live' ? 'retrying' : 'connecting'),
      connected: () => setSocketState('live'),
      closed: () => setSocketState(token ? 'retrying' : 'idle'),
    },
  });
  return socket;
}

function resetSocket() {
  if (socket) {
    socket.dispose();
    socket = null;
  }
  setSocketState('idle');
}

/**
 * Subscribes to `query`; `onData(data)` for every item, `onError(ApiError)` for errors. Returns
 * a function that ends the subscription. The client reconnects by itself after a lost
 * connection and the subscriptions start again (each sends the current state first).
 */
export function subscribe(query, variables, onData, onError = () => {}) {
  return client().subscribe(
    { query, variables },
    {
      next: (result) => {
        if (result.errors?.length) {
          const first = result.errors[0];
          onError(new ApiError(first.message, { code: first.extensions?.code ?? 'INTERNAL' }));
        } else if (result.data) {
          onData(result.data);
        }
      },
      error: (err) => {
        const message = Array.isArray(err) ? err[0]?.message : err?.message ?? err?.reason;
        onError(new ApiError(message || 'The live connection failed.', { code: 'NETWORK' }));
      },
      complete: () => {},
    },
  );
}
