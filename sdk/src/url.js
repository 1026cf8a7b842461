// URL privacy and origin matching.

/** Query parameter names whose values are never sent (matched case-insensitively). */
export const DEFAULT_SCRUB = [
  /token|secret|passw|pwd|^auth|api[-_]?key|signature|^sig$|session|^sid$|^code$|^key$|otp/i,
  /e-?mail|phone|ssn|card|iban|^name$|^(first|last|full)[-_]?name$|address/i,
];
export const REDACTED = "[redacted]";
const EMAIL = /[^@\s/?&=#]+(?:@|%40)[^@\s/?&=#]+\.[a-z]{2,}/gi;

const matches = (name, rules) =>
  rules.some((r) => (typeof r === "string" ? r.toLowerCase() === name.toLowerCase() : r.test(name)));

function scrubParams(text, rules) {
  return text
    .split("&")
    .map((pair) => {
      const eq = pair.indexOf("=");
      if (eq < 0) return pair;
      const name = pair.slice(0, eq);
      let key = name;
      try {
        key = decodeURIComponent(name.replace(/\+/g, " "));
      } catch {}
      return matches(key, rules) ? `${name}=${REDACTED}` : pair;
    })
    .join("&");
}

/**
 * The URL with the values of sensitive query (and fragment) parameters replaced, and
 * email addresses anywhere in it redacted; relative URLs are resolved against `base`.
 */
export function scrubUrl(url, rules = DEFAULT_SCRUB, base) {
  let u;
  try {
    u = new URL(url, base);
  } catch {
    return String(url).replace(EMAIL, REDACTED);
  }
  let out = u.origin + u.pathname;
  if (u.search) out += "?" + scrubParams(u.search.slice(1), rules);
  if (u.hash) out += u.hash.includes("=") ? "#" + scrubParams(u.hash.slice(1), rules) : u.hash;
  return out.replace(EMAIL, REDACTED);
}

/**
 * True when a request to `url` may carry trace headers: its origin equals one of the
 * string entries exactly (prefix matching would let shop.example.evil.com through), or
 * a RegExp entry matches the full URL.
 */
export function propagates(url, list, base) {
  let u;
  try {
    u = new URL(url, base);
  } catch {
    return false;
  }
  return list.some((m) =>
    typeof m === "string" ? u.origin === m.replace(/\/+$/, "") : m instanceof RegExp && m.test(u.href),
  );
}
