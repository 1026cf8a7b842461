// Core web vitals from PerformanceObserver, kept small: FCP and TTFB are reported once
// known; LCP, CLS and INP settle only when the page is hidden, so they are reported then.

// name -> [good up to, poor above]; CLS is unitless, the others milliseconds.
export const THRESHOLDS = {
  LCP: [2500, 4000],
  INP: [200, 500],
  CLS: [0.1, 0.25],
  FCP: [1800, 3000],
  TTFB: [800, 1800],
};

export function rating(name, value) {
  const [good, poor] = THRESHOLDS[name];
  return value <= good ? "good" : value <= poor ? "needs-improvement" : "poor";
}

function observe(win, type, cb, extra) {
  try {
    const po = new win.PerformanceObserver((list) => list.getEntries().forEach(cb));
    po.observe({ type, buffered: true, ...extra });
    return po;
  } catch {
    return null; // entry type unsupported in this browser
  }
}

/** CLS: the largest burst of layout shifts (shifts < 1 s apart, burst at most 5 s long). */
export class ShiftWindows {
  constructor() {
    this.max = 0;
    this.cur = 0;
    this.first = 0;
    this.last = 0;
  }

  add(entry) {
    if (entry.hadRecentInput) return;
    const t = entry.startTime;
    if (this.cur && t - this.last < 1000 && t - this.first < 5000) this.cur += entry.value;
    else {
      this.cur = entry.value;
      this.first = t;
    }
    this.last = t;
    this.max = Math.max(this.max, this.cur);
  }
}

/** INP: the longest interactions, read at the 98th percentile (one outlier ignored per 50). */
export class Interactions {
  constructor() {
    this.byId = new Map();
  }

  add(entry) {
    if (!entry.interactionId) return;
    const d = Math.max(this.byId.get(entry.interactionId) || 0, entry.duration);
    this.byId.set(entry.interactionId, d);
    if (this.byId.size > 200) {
      // Keep the longest: only they can be the 98th percentile.
      const keep = [...this.byId].sort((a, b) => b[1] - a[1]).slice(0, 10);
      this.byId = new Map(keep);
      this.dropped = (this.dropped || 0) + 190;
    }
  }

  get value() {
    if (!this.byId.size) return null;
    const sorted = [...this.byId.values()].sort((a, b) => b - a);
    const total = this.byId.size + (this.dropped || 0);
    return sorted[Math.min(sorted.length - 1, Math.floor(total / 50))];
  }
}

/** Starts observing; report(name, value) is called once per vital. Returns flushHidden(). */
export function watchVitals(win, report, nav) {
  const sent = new Set();
  const once = (name, value) => {
    if (value == null || sent.has(name)) return;
    sent.add(name);
    report(name, value);
  };
  if (nav && nav.responseStart > 0) once("TTFB", Math.max(0, nav.responseStart - (nav.activationStart || 0)));
  observe(win, "paint", (e) => e.name === "first-contentful-paint" && once("FCP", e.startTime));
  let lcp = null;
  const lcpObs = observe(win, "largest-contentful-paint", (e) => (lcp = e.startTime));
  const cls = new ShiftWindows();
  const clsObs = observe(win, "layout-shift", (e) => cls.add(e));
  const inp = new Interactions();
  observe(win, "event", (e) => inp.add(e), { durationThreshold: 40 });
  observe(win, "first-input", (e) => inp.add(e));
  // LCP stops at the first input: later paints are the person's doing, not the load's.
  const stopLcp = () => {
    if (lcpObs) lcpObs.takeRecords().forEach((e) => (lcp = e.startTime));
    once("LCP", lcp);
  };
  for (const type of ["keydown", "click"]) win.addEventListener(type, stopLcp, { once: true, capture: true });
  return () => {
    stopLcp();
    if (clsObs) once("CLS", cls.max);
    once("INP", inp.value);
  };
}
