// fetch and XMLHttpRequest instrumentation: a traceparent header on requests to the
// configured origins, and one `request` record per call. The hooks decide everything;
// this module only wraps the two APIs.

/** Server-Timing header text to {name: dur} (or {name: desc} for metrics without dur). */
export function parseServerTiming(text) {
  const out = {};
  if (!text) return out;
  for (const metric of text.split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/)) {
    const [name, ...params] = metric.split(";").map((s) => s.trim());
    if (!name) continue;
    let dur, desc;
    for (const p of params) {
      const eq = p.indexOf("=");
      const key = p.slice(0, eq).trim().toLowerCase();
      const value = p.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1");
      if (key === "dur") dur = parseFloat(value);
      else if (key === "desc") desc = value;
    }
    out[name] = dur >= 0 ? dur : desc !== undefined ? desc : 0;
  }
  return out;
}

// Reading a header the server did not expose logs an error in Chrome; the list never does.
function headersOf(xhr) {
  const h = {};
  try {
    for (const line of xhr.getAllResponseHeaders().split(/[\r\n]+/)) {
      const i = line.indexOf(":");
      if (i > 0) h[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
  } catch {}
  return h;
}

const size = (v) => (v && /^\d+$/.test(v) ? parseInt(v, 10) : undefined);

/**
 * Wraps win.fetch and win.XMLHttpRequest. hooks.skip(url) -> bool leaves a call alone;
 * hooks.start(url, method) -> ctx with ctx.header (traceparent to send, or null);
 * hooks.end(ctx, info) records it.
 */
export function instrumentNetwork(win, outer) {
  // A fault in the SDK must never fail the page's own request.
  const hooks = {
    skip: (url) => {
      try {
        return outer.skip(url);
      } catch {
        return true;
      }
    },
    start: (url, method) => {
      try {
        return outer.start(url, method);
      } catch {
        return { header: null, broken: true };
      }
    },
    end: (ctx, info) => {
      try {
        if (!ctx.broken) outer.end(ctx, info);
      } catch {}
    },
  };
  const orig = win.fetch;
  if (orig) {
    win.fetch = function (input, init) {
      let url, method, req;
      try {
        req = win.Request && input instanceof win.Request ? input : null;
        url = req ? req.url : String(input);
        method = String((init && init.method) || (req && req.method) || "GET").toUpperCase();
      } catch {
        return orig.apply(this, arguments);
      }
      if (hooks.skip(url)) return orig.apply(this, arguments);
      const ctx = hooks.start(url, method);
      const headers = new win.Headers((init && init.headers) || (req && req.headers) || undefined);
      if (headers.has("traceparent")) ctx.header = headers.get("traceparent");
      else if (ctx.header) {
        headers.set("traceparent", ctx.header);
        init = { ...init, headers };
      }
      const p = orig.call(this, input, init);
      p.then(
        (res) =>
          hooks.end(ctx, {
            method,
            url,
            status: res.status,
            initiator: "fetch",
            responseBytes: size(res.headers.get("content-length")),
            serverTiming: parseServerTiming(res.headers.get("server-timing")),
          }),
        () => hooks.end(ctx, { method, url, status: 0, initiator: "fetch" }),
      );
      return p;
    };
  }
  const X = win.XMLHttpRequest && win.XMLHttpRequest.prototype;
  if (!X) return;
  const { open, send, setRequestHeader } = X;
  X.open = function (method, url) {
    this._sl = { method: String(method).toUpperCase(), url: String(url) };
    return open.apply(this, arguments);
  };
  X.setRequestHeader = function (name, value) {
    if (this._sl && String(name).toLowerCase() === "traceparent") this._sl.own = value;
    return setRequestHeader.apply(this, arguments);
  };
  X.send = function () {
    const s = this._sl;
    if (s && !hooks.skip(s.url)) {
      const ctx = hooks.start(s.url, s.method);
      if (s.own) ctx.header = s.own;
      else if (ctx.header) setRequestHeader.call(this, "traceparent", ctx.header);
      this.addEventListener("loadend", () => {
        const h = headersOf(this);
        hooks.end(ctx, {
          method: s.method,
          url: s.url,
          status: this.status,
          initiator: "xhr",
          responseBytes: size(h["content-length"]),
          serverTiming: parseServerTiming(h["server-timing"]),
        });
      });
    }
    return send.apply(this, arguments);
  };
}
