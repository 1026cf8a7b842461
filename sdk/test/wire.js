// A checker for docs/client-events.md (wire format v1), strict about names: a field the
// document does not define is a problem, so the SDK cannot drift from the contract.

const isEpochMs = (v) => typeof v === "number" && v > 1e12 && v < 1e14;
const isStr = (v) => typeof v === "string";
const isNum = (v) => typeof v === "number" && Number.isFinite(v);
const isInt = (v) => Number.isInteger(v) && v >= 0;
const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const TP = /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/;

const COMMON = ["type", "id", "ts", "page", "traceparent", "actionId", "flags", "visibility"];
// type -> {field: check} of the type's own top-level fields
const TYPES = {
  page_view: { nav: isObj, traceparent: (v) => TP.test(v) },
  action: { action: isObj },
  request: { request: isObj },
  resource: { resource: isObj },
  error: { error: isObj },
  vital: { vital: isObj },
  visibility: { state: (v) => v === "visible" || v === "hidden" },
  track: { event: isStr, properties: isObj },
  identify: { userId: isStr, traits: isObj },
};
const NESTED = {
  action: { kind: (v) => ["click", "submit", "keypress"].includes(v), target: isStr, name: isStr },
  request: {
    method: isStr,
    url: isStr,
    status: (v) => isInt(v) && v <= 999,
    duration: (v) => isNum(v) && v >= 0,
    initiator: (v) => v === "fetch" || v === "xhr",
    requestBytes: isInt,
    responseBytes: isInt,
    serverTiming: isObj,
  },
  resource: { url: isStr, initiatorType: isStr, duration: isNum, transferSize: isInt },
  error: {
    type: isStr,
    message: isStr,
    stack: isStr,
    source: (v) => v === "error" || v === "unhandledrejection",
    filename: isStr,
    line: isInt,
    col: isInt,
  },
  vital: {
    name: (v) => ["LCP", "INP", "CLS", "FCP", "TTFB"].includes(v),
    value: isNum,
    rating: (v) => ["good", "needs-improvement", "poor"].includes(v),
  },
};
const REQUIRED = {
  action: ["kind", "target"],
  request: ["method", "url", "status", "duration", "initiator"],
  resource: ["url"],
  error: ["type", "message", "source"],
  vital: ["name", "value", "rating"],
};

function checkFields(obj, spec, where, problems) {
  for (const [k, v] of Object.entries(obj)) {
    if (!(k in spec)) problems.push(`${where}.${k} is not in the wire format`);
    else if (v !== undefined && !spec[k](v)) problems.push(`${where}.${k} has a wrong value ${JSON.stringify(v)}`);
  }
}

/** Problems with one batch, as text; empty when it conforms. */
export function checkBatch(batch) {
  const p = [];
  if (!isObj(batch)) return ["batch is not an object"];
  checkFields(batch, { v: (v) => v === 1, sdk: isObj, sentAt: isEpochMs, session: isObj, context: isObj, events: Array.isArray }, "batch", p);
  if (!isEpochMs(batch.sentAt)) p.push("sentAt missing");
  if (!isObj(batch.session) || !isStr(batch.session.id) || !batch.session.id) p.push("session.id missing");
  else checkFields(batch.session, { id: isStr, anonymousId: isStr, userId: isStr }, "session", p);
  if (!isStr(batch.session?.anonymousId)) p.push("session.anonymousId missing");
  const ctx = batch.context || {};
  const scalar = (v) => ["string", "number", "boolean"].includes(typeof v);
  checkFields(ctx, {
    app: (v) => isObj(v) && Object.values(v).every(isStr),
    userAgent: isStr,
    page: (v) => isObj(v) && isStr(v.url) && (v.referrer === undefined || isStr(v.referrer)),
    network: (v) => isObj(v) && (v.effectiveType === undefined || isStr(v.effectiveType)) && (v.rtt === undefined || isNum(v.rtt)),
    flags: (v) => isObj(v) && Object.values(v).every(scalar),
    region: isStr,
    segment: isStr,
  }, "context", p);
  if (!Array.isArray(batch.events) || !batch.events.length) return [...p, "events missing or empty"];
  const ids = new Set();
  batch.events.forEach((ev, i) => {
    const where = `events[${i}]`;
    if (!isObj(ev)) return p.push(`${where} is not an object`);
    const own = TYPES[ev.type];
    if (!own) return p.push(`${where}.type ${ev.type} is unknown`);
    if (!isStr(ev.id) || !ev.id) p.push(`${where}.id missing`);
    if (ids.has(ev.id)) p.push(`${where}.id repeats`);
    ids.add(ev.id);
    if (!isEpochMs(ev.ts)) p.push(`${where}.ts missing`);
    const spec = {
      type: isStr,
      id: isStr,
      ts: isEpochMs,
      page: (v) => isObj(v) && isStr(v.url),
      traceparent: (v) => TP.test(v),
      actionId: isStr,
      flags: isObj,
      visibility: (v) => ["visible", "hidden"].includes(v),
      ...own,
    };
    checkFields(ev, spec, where, p);
    for (const k of Object.keys(own)) if (!COMMON.includes(k) && ev[k] === undefined && k !== "nav") p.push(`${where}.${k} missing`);
    if (NESTED[ev.type]) {
      const inner = ev[ev.type];
      if (isObj(inner)) {
        checkFields(inner, NESTED[ev.type], `${where}.${ev.type}`, p);
        for (const k of REQUIRED[ev.type]) if (inner[k] === undefined) p.push(`${where}.${ev.type}.${k} missing`);
      }
    }
    if (ev.type === "page_view" && ev.nav) {
      for (const [k, v] of Object.entries(ev.nav)) if (k === "type" ? !isStr(v) : !isNum(v)) p.push(`${where}.nav.${k} wrong`);
    }
  });
  return p;
}
