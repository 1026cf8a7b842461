// Seamline browser SDK: init() once per page, then identify() and track() as needed.
// Everything it sends follows docs/client-events.md (wire format v1).

import { describe, controlOf } from "./dom.js";
import { formatTraceparent, newSpanId, newTraceId, parseTraceparent, randomHex, sampledFor } from "./ids.js";
import { instrumentNetwork } from "./net.js";
import { Session } from "./session.js";
import { Transport } from "./transport.js";
import { DEFAULT_SCRUB, propagates, scrubUrl } from "./url.js";
import { rating, watchVitals } from "./vitals.js";

export const VERSION = "0.1.0";
const SDK = { name: "seamline-browser", version: VERSION };
const PII_TRAIT = /e-?mail|phone|passw|address|^(first|last|full|user)?[-_]?name$/i;

export const DEFAULTS = {
  endpoint: "/v1/client",
  app: undefined, // {name, release, environment}
  sampleRate: 1,
  propagateTo: undefined, // [origin string | RegExp]; default: this page's origin only
  scrub: [], // more query parameter names (strings or RegExps) to redact
  scrubUrl: undefined, // (url) => url, after the built-in scrubbing
  flags: undefined, // {flag: variant} or () => {...}
  region: undefined,
  segment: undefined,
  sessionTimeout: 30 * 60 * 1000,
  maxBatchEvents: 30,
  maxBatchBytes: 32000,
  flushInterval: 5000,
  maxQueue: 500,
  backoff: 1000,
  maxBackoff: 30000,
  actionWindow: 300,
  maxResources: 100,
  maxErrors: 50,
  resources: true,
};

let S = null; // the one running instance

const round = (x) => Math.round(x * 10) / 10;

function storageOf(win) {
  try {
    const s = win.localStorage;
    s.setItem("seamline.t", "1");
    s.removeItem("seamline.t");
    return s;
  } catch {
    const m = new Map(); // storage disabled: keep ids for this page only
    return { getItem: (k) => (m.has(k) ? m.get(k) : null), setItem: (k, v) => m.set(k, String(v)), removeItem: (k) => m.delete(k) };
  }
}

/** The server's trace context of this HTML document: Server-Timing first, then the meta tag. */
export function documentTraceparent(nav, doc) {
  for (const e of (nav && nav.serverTiming) || []) {
    if (e.name === "traceparent" && parseTraceparent(e.description)) return e.description;
  }
  const meta = doc.querySelector('meta[name="traceparent"]');
  return meta && parseTraceparent(meta.content) ? meta.content : null;
}

/** Navigation timing of the document, in ms from navigation start. */
export function navTiming(nav) {
  if (!nav) return undefined;
  const d = (a, b) => round(Math.max(0, nav[b] - nav[a]));
  return {
    type: nav.type,
    dns: d("domainLookupStart", "domainLookupEnd"),
    connect: d("connectStart", "connectEnd"),
    tls: nav.secureConnectionStart > 0 ? d("secureConnectionStart", "connectEnd") : 0,
    ttfb: round(nav.responseStart),
    domInteractive: round(nav.domInteractive),
    domContentLoaded: round(nav.domContentLoadedEventEnd),
    load: round(nav.loadEventEnd),
    transferSize: nav.transferSize || 0,
  };
}

function errorFields(err, source, extra) {
  const e = err instanceof Error ? err : null;
  const out = {
    type: (e && e.name) || (source === "unhandledrejection" ? "UnhandledRejection" : "Error"),
    message: String((e ? e.message : err) ?? "").slice(0, 1000),
    stack: ((e && e.stack) || "").slice(0, 4000),
    source,
  };
  return { ...out, ...extra };
}

/** Starts the SDK; a second call returns the running instance unchanged. */
export function init(config = {}, win = globalThis.window) {
  if (S || !win || !win.document) return api;
  const c = { ...DEFAULTS, ...config };
  const doc = win.document;
  const perf = win.performance;
  const now = () => round(perf.timeOrigin + perf.now());
  const rate = c.sampleRate == null ? 1 : Number(c.sampleRate);
  const endpoint = new URL(c.endpoint, win.location.href).href;
  const rules = [...DEFAULT_SCRUB, ...(c.scrub || [])];
  const scrub = (u) => {
    if (!u) return u;
    const out = scrubUrl(u, rules, win.location.href);
    try {
      return c.scrubUrl ? String(c.scrubUrl(out)) : out;
    } catch {
      return out.split(/[?#]/)[0]; // the app's scrubber failed: send no query rather than an unscrubbed one
    }
  };
  const targets = c.propagateTo || [win.location.origin];
  const storage = storageOf(win);
  const session = new Session(storage, now, c.sessionTimeout);
  const nav = perf.getEntriesByType ? perf.getEntriesByType("navigation")[0] : undefined;
  const docTp = documentTraceparent(nav, doc);
  const docCtx = parseTraceparent(docTp);
  const newTrace = () => {
    const traceId = newTraceId();
    return { traceId, sampled: sampledFor(traceId, rate) };
  };
  // The page's trace is the server's when it sent one: the server already made the decision.
  let page = docCtx ? { traceId: docCtx.traceId, sampled: docCtx.sampled && rate > 0 } : newTrace();
  let pageUrl = scrub(win.location.href);
  let referrer = scrub(doc.referrer) || undefined;
  let action = null;
  let lastSession = null;
  let resources = 0;
  let errors = 0;
  let viewSent = false;

  const context = () => {
    const out = { userAgent: win.navigator.userAgent, page: { url: pageUrl } };
    if (c.app) out.app = c.app;
    if (referrer) out.page.referrer = referrer;
    const conn = win.navigator.connection;
    if (conn) {
      const n = {};
      if (typeof conn.effectiveType === "string") n.effectiveType = conn.effectiveType;
      if (typeof conn.rtt === "number") n.rtt = conn.rtt;
      if (typeof conn.downlink === "number") n.downlink = conn.downlink;
      out.network = n;
    }
    let flags = c.flags;
    try {
      if (typeof flags === "function") flags = flags();
    } catch {
      flags = undefined; // the app's callback failed: send the batch without flags
    }
    if (flags) out.flags = flags;
    if (c.region) out.region = c.region;
    if (c.segment) out.segment = c.segment;
    return out;
  };

  const transport =
    rate > 0
      ? new Transport({
          endpoint,
          envelope: () => ({ sdk: SDK, session: session.wire, context: context() }),
          now,
          fetch: win.fetch.bind(win),
          beacon: win.navigator.sendBeacon && ((u, body) => win.navigator.sendBeacon(u, body)),
          storage,
          maxEvents: c.maxBatchEvents,
          maxBytes: c.maxBatchBytes,
          interval: c.flushInterval,
          maxQueue: c.maxQueue,
          backoff: c.backoff,
          maxBackoff: c.maxBackoff,
          random: Math.random,
          online: () => win.navigator.onLine !== false,
          timers: { setTimeout: win.setTimeout.bind(win), clearTimeout: win.clearTimeout.bind(win) },
        })
      : null;

  const activeAction = () => (action && perf.now() <= action.until ? action : null);

  /** Records one event when its trace is sampled. */
  const emit = (type, fields, trace, ts) => {
    if (!transport || !(trace || activeAction() || page).sampled) return;
    const sid = session.touch();
    if (lastSession && sid !== lastSession) transport.flush(); // a batch holds one session
    lastSession = sid;
    const ev = { type, id: "e_" + randomHex(8), ts: ts || now(), ...fields };
    if (doc.visibilityState === "hidden" || doc.visibilityState === "visible") ev.visibility = doc.visibilityState;
    transport.add(ev);
  };

  const sendPageView = () => {
    if (viewSent) return;
    viewSent = true;
    const fields = { page: { url: pageUrl, title: doc.title || undefined }, nav: navTiming(nav) };
    if (referrer) fields.page.referrer = referrer;
    if (docTp) fields.traceparent = docTp;
    emit("page_view", fields, page, round(perf.timeOrigin));
  };

  const vitals = watchVitals(
    win,
    (name, value) => emit("vital", { vital: { name, value: round(value * 1e4) / 1e4, rating: rating(name, value) } }, page),
    nav,
  );

  // --- network --------------------------------------------------------------------------
  instrumentNetwork(win, {
    skip: (url) => {
      try {
        return new URL(url, win.location.href).href.split("?")[0] === endpoint.split("?")[0];
      } catch {
        return false;
      }
    },
    start: (url) => {
      const act = activeAction();
      const trace = act || newTrace();
      const spanId = newSpanId();
      if (act) act.until = perf.now() + c.actionWindow;
      return {
        trace,
        actionId: act && act.id,
        ts: now(),
        t0: perf.now(),
        header: propagates(url, targets, win.location.href) ? formatTraceparent(trace.traceId, spanId, trace.sampled) : null,
      };
    },
    end: (ctx, info) => {
      if (action && action.id === ctx.actionId) action.until = Math.max(action.until, perf.now() + c.actionWindow);
      const request = { ...info, url: scrub(new URL(info.url, win.location.href).href), duration: round(perf.now() - ctx.t0) };
      if (request.responseBytes === undefined) delete request.responseBytes;
      if (request.serverTiming && !Object.keys(request.serverTiming).length) delete request.serverTiming;
      const fields = { request };
      if (ctx.header) fields.traceparent = ctx.header;
      if (ctx.actionId) fields.actionId = ctx.actionId;
      emit("request", fields, ctx.trace, ctx.ts);
    },
  });

  // --- user actions -----------------------------------------------------------------------
  const onAction = (kind) => (e) => {
    const el = kind === "click" ? controlOf(e.target) : e.target;
    if (!el || !el.tagName) return;
    const trace = newTrace();
    const spanId = newSpanId();
    action = { ...trace, id: "act_" + randomHex(6), until: perf.now() + c.actionWindow };
    const a = { kind, target: describe(el) };
    const name = el.getAttribute("data-seamline-name");
    if (name) a.name = name;
    emit("action", { actionId: action.id, traceparent: formatTraceparent(trace.traceId, spanId, trace.sampled), action: a }, action);
  };
  // Capture phase: the action must exist before the page's own handlers start requests.
  doc.addEventListener("click", onAction("click"), true);
  doc.addEventListener("submit", onAction("submit"), true);

  // --- errors ---------------------------------------------------------------------------------
  const onError = (err, source, extra) => {
    if (errors++ >= c.maxErrors) return;
    const act = activeAction();
    const fields = { error: errorFields(err, source, extra) };
    if (act) fields.actionId = act.id;
    emit("error", fields, act || page);
  };
  win.addEventListener("error", (e) => {
    if (!e || e.message === undefined) return; // a resource failed to load: resource timing has it
    const extra = {};
    if (e.filename) extra.filename = scrub(e.filename);
    if (e.lineno) extra.line = e.lineno;
    if (e.colno) extra.col = e.colno;
    onError(e.error || e.message, "error", extra);
  });
  win.addEventListener("unhandledrejection", (e) => onError(e.reason, "unhandledrejection", {}));

  // --- resources ------------------------------------------------------------------------------
  if (c.resources && win.PerformanceObserver) {
    try {
      new win.PerformanceObserver((list) => {
        for (const r of list.getEntries()) {
          if (/^(fetch|xmlhttprequest|beacon)$/.test(r.initiatorType) || r.name.startsWith(endpoint)) continue;
          if (resources++ >= c.maxResources) return;
          const resource = {
            url: scrub(r.name),
            initiatorType: r.initiatorType,
            duration: round(r.duration),
            transferSize: r.transferSize || 0,
          };
          emit("resource", { resource }, page, round(perf.timeOrigin + r.startTime));
        }
      }).observe({ type: "resource", buffered: true });
    } catch {}
  }

  // --- page lifecycle -------------------------------------------------------------------------
  if (doc.readyState === "complete") win.setTimeout(sendPageView, 0);
  else win.addEventListener("load", () => win.setTimeout(sendPageView, 0)); // loadEventEnd is set after load

  const leave = () => {
    sendPageView();
    vitals();
    if (transport) transport.flush(true);
  };
  doc.addEventListener("visibilitychange", () => {
    emit("visibility", { state: doc.visibilityState }, page);
    if (doc.visibilityState === "hidden") leave();
  });
  win.addEventListener("pagehide", leave);
  win.addEventListener("online", () => transport && transport.wake());

  // Single-page apps: a pushState or back/forward to another path is a new page view.
  const softNav = () => {
    const url = scrub(win.location.href);
    if (url === pageUrl) return;
    sendPageView();
    if (transport) transport.flush(); // the batch's context.page names the page it was made on
    referrer = pageUrl;
    pageUrl = url;
    page = newTrace();
    emit("page_view", { page: { url, referrer, title: doc.title || undefined } }, page);
  };
  const push = win.history.pushState;
  win.history.pushState = function () {
    const out = push.apply(this, arguments);
    softNav();
    return out;
  };
  win.addEventListener("popstate", softNav);

  S = {
    session,
    transport,
    emit,
    flush: () => transport && transport.flush(),
    identify: (userId, traits) => {
      if (transport) transport.flush(); // earlier events belong to the previous user
      session.identify(userId);
      const clean = {};
      for (const [k, v] of Object.entries(traits || {})) if (!PII_TRAIT.test(k)) clean[k] = v;
      emit("identify", { userId: session.userId, traits: clean });
    },
  };
  if (transport) transport.pump(); // what an earlier visit could not deliver
  return api;
}

/** Names the signed-in user; traits that identify a person (email, name, phone...) are dropped. */
export function identify(userId, traits) {
  if (S) S.identify(userId, traits);
}

/** Records a named product event. */
export function track(event, properties) {
  if (S) S.emit("track", { event: String(event), properties: properties || {} });
}

/** Sends what is batched now. */
export function flush() {
  if (S) S.flush();
}

/** The current session id (null before init). */
export function sessionId() {
  return S ? S.session.wire.id : null;
}

export const api = { init, identify, track, flush, sessionId, VERSION };
export default api;
