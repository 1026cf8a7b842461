// Random ids and W3C trace context. Ids come from crypto.getRandomValues: Math.random is
// predictable and would let one visitor's ids collide with another's.

const HEX = /^[0-9a-f]+$/;

/** `bytes` random bytes as lowercase hex. */
export function randomHex(bytes) {
  const buf = crypto.getRandomValues(new Uint8Array(bytes));
  let out = "";
  for (const b of buf) out += (b < 16 ? "0" : "") + b.toString(16);
  return out;
}

/** A non-zero id of `bytes` random bytes (all zeros is invalid in W3C trace context). */
function nonZero(bytes) {
  let id;
  do id = randomHex(bytes);
  while (!/[^0]/.test(id));
  return id;
}

export const newTraceId = () => nonZero(16);
export const newSpanId = () => nonZero(8);

/** The version-00 traceparent header value. */
export const formatTraceparent = (traceId, spanId, sampled) =>
  `00-${traceId}-${spanId}-${sampled ? "01" : "00"}`;

/** {traceId, spanId, sampled} of a traceparent value, or null when it is not a valid one. */
export function parseTraceparent(value) {
  const m = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-|$)/.exec(
    String(value || "").trim(),
  );
  if (!m || m[1] === "ff" || !/[^0]/.test(m[2]) || !/[^0]/.test(m[3])) return null;
  if (m[1] === "00" && m[5]) return null;
  return { traceId: m[2], spanId: m[3], sampled: (parseInt(m[4], 16) & 1) === 1 };
}

/**
 * Head sampling decision for a trace, the same rule the server applies to the traces it
 * starts (seamline.instrument._context.sampled): the low 56 bits of the trace id read as a
 * number R, kept when R >= floor((1 - rate) * 2^56), as OpenTelemetry's consistent
 * probability sampling does. Equal-length hex strings compare like the numbers they spell.
 */
export function sampledFor(traceId, rate) {
  if (!(rate > 0)) return false;
  if (rate >= 1) return true;
  if (!HEX.test(traceId) || traceId.length !== 32) return false;
  const threshold = Math.floor((1 - rate) * 2 ** 56).toString(16).padStart(14, "0");
  return traceId.slice(18) >= threshold;
}
