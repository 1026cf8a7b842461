// Element descriptors: which control a person used, never what it said or held.

const CONTROL =
  "a,button,input,select,textarea,label,summary,[role=button],[role=link],[role=menuitem],[role=tab],[data-seamline-name]";
const STABLE_CLASS = /^[a-z][a-z-]*(?:_[a-z-]+)*$/i; // skips generated names like css-1x2y3z

const esc = (s) => String(s).replace(/["\\]/g, "\\$&");

/** The control a click landed on: the nearest interactive ancestor, or the element itself. */
export function controlOf(el) {
  if (!el || el.nodeType !== 1) el = el && el.parentElement;
  if (!el) return null;
  return (el.closest && el.closest(CONTROL)) || el;
}

/**
 * A stable descriptor `tag#id.class.class[data-seamline-name="x"]` (at most two classes,
 * generated-looking ones skipped): no text content, no values, no hrefs.
 */
export function describe(el) {
  if (!el || !el.tagName) return "";
  let out = el.tagName.toLowerCase();
  if (el.id && /^[A-Za-z][\w-]*$/.test(el.id)) out += "#" + el.id;
  const classes = el.classList ? [...el.classList].filter((c) => STABLE_CLASS.test(c)).slice(0, 2) : [];
  for (const c of classes) out += "." + c;
  if (out.startsWith("input")) {
    const type = el.getAttribute("type");
    if (type) out += `[type="${esc(type)}"]`;
  }
  const name = el.getAttribute && el.getAttribute("data-seamline-name");
  if (name) out += `[data-seamline-name="${esc(name)}"]`;
  return out;
}
