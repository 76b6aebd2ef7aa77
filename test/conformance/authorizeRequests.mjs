// Preloaded into the conformance CLI, which has no option for headers: adds our
// bearer token to every request it sends. Its scenarios use the SDK client,
// plain fetch and undici.request; all three go through undici's global
// dispatcher, so one interceptor covers them.
import { Agent, setGlobalDispatcher } from 'undici';

const token = process.env.CONFORMANCE_BEARER_TOKEN;
if (token) {
  const value = `Bearer ${token}`;
  const withAuth = (headers) => {
    if (Array.isArray(headers)) {
      const has = headers.some((h, i) => i % 2 === 0 && String(h).toLowerCase() === 'authorization');
      return has ? headers : [...headers, 'authorization', value];
    }
    if (headers && typeof headers !== 'string' && typeof headers[Symbol.iterator] === 'function') {
      return [...[...headers].flat(), 'authorization', value];
    }
    const obj = { ...(headers ?? {}) };
    if (!Object.keys(obj).some((k) => k.toLowerCase() === 'authorization')) obj.authorization = value;
    return obj;
  };
  setGlobalDispatcher(
    new Agent().compose((dispatch) => (opts, handler) => dispatch({ ...opts, headers: withAuth(opts.headers) }, handler)),
  );
}
