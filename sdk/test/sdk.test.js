import { test } from "node:test";
import assert from "node:assert/strict";
import { checkBatch } from "./wire.js";
import { DOC_TP, ENDPOINT, freshSdk, page, tick } from "./harness.js";

const CONFIG = {
  endpoint: ENDPOINT,
  app: { name: "shop-web", release: "web@1", environment: "test" },
  propagateTo: ["https://shop.example"],
  flags: { new_checkout: "on" },
  flushInterval: 20,
};

async function shopVisit(config = CONFIG) {
  const p = page({
    head: `<meta name="traceparent" content="${DOC_TP}"><title>Shoe</title>`,
    body: '<button id="add" class="btn primary" data-seamline-name="add-to-cart">Add 1 shoe</button><input id="email" value="jane@x.com">',
  });
  const sdk = await freshSdk();
  sdk.init(config, p.win);
  p.doc.getElementById("add").addEventListener("click", () => {
    p.win.fetch("/api/cart?email=jane@x.com", { method: "POST", body: "{}" });
    p.win.fetch("https://cdn.thirdparty.example/pixel.gif");
    const xhr = new p.win.XMLHttpRequest();
    xhr.open("get", "/api/cart/count");
    xhr.send();
  });
  p.win.dispatchEvent(new p.win.Event("load"));
  await tick();
  p.doc.getElementById("add").click();
  await tick();
  const err = new TypeError("cart is undefined");
  p.win.dispatchEvent(new p.win.ErrorEvent("error", { message: err.message, error: err, filename: "https://shop.example/app.js?v=1", lineno: 3, colno: 7 }));
  const rej = new p.win.Event("unhandledrejection");
  rej.reason = new Error("payment timed out");
  p.win.dispatchEvent(rej);
  sdk.identify("u_42", { plan: "pro", email: "jane@x.com", first_name: "Jane" });
  sdk.track("coupon_applied", { code_length: 6 });
  await tick(40);
  p.win.dispatchEvent(new p.win.Event("pagehide"));
  await tick();
  return { ...p, sdk };
}

test("every batch the SDK sends conforms to the wire format", async () => {
  const { batches, win } = await shopVisit();
  assert.ok(batches.length >= 2, `only ${batches.length} batches`);
  for (const { batch } of batches) assert.deepEqual(checkBatch(batch), []);
  const types = new Set(batches.flatMap((b) => b.batch.events.map((e) => e.type)));
  for (const t of ["page_view", "action", "request", "error", "identify", "track"]) assert.ok(types.has(t), t);
  win.close();
});

test("the envelope carries session, app, scrubbed page and flags", async () => {
  const { batches, win } = await shopVisit();
  const { batch } = batches[0];
  assert.equal(batch.sdk.name, "seamline-browser");
  assert.match(batch.session.id, /^s_[0-9a-f]{16}$/);
  assert.match(batch.session.anonymousId, /^a_[0-9a-f]{16}$/);
  assert.deepEqual(batch.context.app, CONFIG.app);
  assert.equal(batch.context.page.url, "https://shop.example/product/7?token=[redacted]&ref=mail");
  assert.deepEqual(batch.context.flags, { new_checkout: "on" });
  assert.ok(Math.abs(batch.sentAt - Date.now()) < 60_000);
  win.close();
});

test("the first page view carries the document's traceparent from the meta tag", async () => {
  const { events, win } = await shopVisit();
  const [view] = events().filter((e) => e.type === "page_view");
  assert.equal(view.traceparent, DOC_TP);
  assert.equal(view.page.title, "Shoe");
  win.close();
});

test("a click records a descriptor without text, and its requests carry its action id and trace", async () => {
  const { events, requests, win } = await shopVisit();
  const [act] = events().filter((e) => e.type === "action");
  assert.deepEqual(act.action, { kind: "click", target: 'button#add.btn.primary[data-seamline-name="add-to-cart"]', name: "add-to-cart" });
  const traceId = act.traceparent.split("-")[1];
  const reqs = events().filter((e) => e.type === "request");
  assert.equal(reqs.length, 3);
  for (const r of reqs) assert.equal(r.actionId, act.actionId);
  const cart = reqs.find((r) => r.request.url.includes("/api/cart?"));
  assert.equal(cart.request.method, "POST");
  assert.equal(cart.request.url, "https://shop.example/api/cart?email=[redacted]");
  assert.equal(cart.request.initiator, "fetch");
  assert.equal(cart.request.responseBytes, 321);
  assert.deepEqual(cart.request.serverTiming, { app: 12.5, traceparent: "00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-01" });
  assert.equal(cart.traceparent.split("-")[1], traceId);
  // the header the server got is exactly the one recorded
  const sentCart = requests.find((r) => r.url.startsWith("/api/cart?"));
  assert.equal(sentCart.headers.get("traceparent"), cart.traceparent);
  const xhr = reqs.find((r) => r.request.initiator === "xhr");
  assert.equal(xhr.request.method, "GET");
  assert.equal(xhr.request.status, 201);
  assert.deepEqual(xhr.request.serverTiming, { db: 3 });
  assert.equal(requests.find((r) => r.xhr).headers.get("traceparent"), xhr.traceparent);
  assert.notEqual(xhr.traceparent.split("-")[2], cart.traceparent.split("-")[2], "each request is its own span");
  win.close();
});

test("third-party requests get no traceparent", async () => {
  const { events, requests, win } = await shopVisit();
  const third = requests.find((r) => r.url.includes("thirdparty"));
  assert.equal(third.headers.get("traceparent"), null);
  const ev = events().find((e) => e.type === "request" && e.request.url.includes("thirdparty"));
  assert.equal(ev.traceparent, undefined);
  win.close();
});

test("the SDK never records its own uploads as requests", async () => {
  const { events, win } = await shopVisit();
  assert.ok(!events().some((e) => e.type === "request" && e.request.url.startsWith(ENDPOINT)));
  win.close();
});

test("errors and unhandled rejections are sent with type, message and stack", async () => {
  const { events, win } = await shopVisit();
  const errs = events().filter((e) => e.type === "error");
  const err = errs.find((e) => e.error.source === "error");
  assert.equal(err.error.type, "TypeError");
  assert.equal(err.error.message, "cart is undefined");
  assert.ok(err.error.stack.includes("cart is undefined"));
  assert.equal(err.error.line, 3);
  assert.equal(err.error.col, 7);
  const rej = errs.find((e) => e.error.source === "unhandledrejection");
  assert.equal(rej.error.message, "payment timed out");
  win.close();
});

test("identify names the user in later batches and drops traits that name a person", async () => {
  const { batches, events, win } = await shopVisit();
  const ident = events().find((e) => e.type === "identify");
  assert.equal(ident.userId, "u_42");
  assert.deepEqual(ident.traits, { plan: "pro" });
  const last = batches.at(-1).batch;
  assert.equal(last.session.userId, "u_42");
  assert.equal(batches[0].batch.session.userId, undefined, "earlier events were not the user's");
  win.close();
});

test("leaving the page sends what is left by beacon", async () => {
  const { batches, win } = await shopVisit({ ...CONFIG, flushInterval: 60_000 });
  assert.ok(batches.some((b) => b.via === "beacon"));
  win.close();
});

test("at sample rate 0 nothing is sent, and own requests say not sampled", async () => {
  const { batches, requests, win } = await shopVisit({ ...CONFIG, sampleRate: 0 });
  assert.equal(batches.length, 0);
  const cart = requests.find((r) => r.url.startsWith("/api/cart?"));
  assert.match(cart.headers.get("traceparent"), /-00$/);
  win.close();
});

test("the page view follows the server's decision for the document's trace", async () => {
  const p = page({ head: `<meta name="traceparent" content="${DOC_TP.replace(/-01$/, "-00")}">` });
  const sdk = await freshSdk();
  sdk.init({ ...CONFIG, flushInterval: 5 }, p.win);
  p.win.dispatchEvent(new p.win.Event("load"));
  await tick(30);
  assert.ok(!p.events().some((e) => e.type === "page_view"));
  p.win.close();
});

test("an existing traceparent set by the page is kept and recorded", async () => {
  const p = page();
  const sdk = await freshSdk();
  sdk.init({ ...CONFIG, flushInterval: 5 }, p.win);
  const own = "00-11111111111111111111111111111111-2222222222222222-01";
  await p.win.fetch("/api/x", { headers: { traceparent: own } });
  await tick(30);
  assert.equal(p.requests[0].headers.get("traceparent"), own);
  assert.equal(p.events().find((e) => e.type === "request").traceparent, own);
  p.win.close();
});

test("a session id survives a reload and rotates after 30 idle minutes", async () => {
  const p = page();
  const sdk = await freshSdk();
  sdk.init({ ...CONFIG }, p.win);
  const first = sdk.sessionId();
  const stored = JSON.parse(p.win.localStorage.getItem("seamline.session"));
  assert.equal(stored.id, first);
  const again = await freshSdk();
  const q = page();
  q.win.localStorage.setItem("seamline.session", JSON.stringify(stored));
  again.init({ ...CONFIG }, q.win);
  assert.equal(again.sessionId(), first);
  const later = await freshSdk();
  const r = page();
  r.win.localStorage.setItem("seamline.session", JSON.stringify({ id: first, last: stored.last - 31 * 60_000 }));
  later.init({ ...CONFIG }, r.win);
  assert.notEqual(later.sessionId(), first);
  for (const x of [p, q, r]) x.win.close();
});

test("a pushState to another path is a page view of its own", async () => {
  const p = page();
  const sdk = await freshSdk();
  sdk.init({ ...CONFIG, flushInterval: 5 }, p.win);
  p.win.history.pushState({}, "", "/cart");
  await tick(30);
  const views = p.events().filter((e) => e.type === "page_view");
  const soft = views.find((v) => v.page.url === "https://shop.example/cart");
  assert.ok(soft);
  assert.equal(soft.page.referrer, "https://shop.example/product/7?token=[redacted]&ref=mail");
  p.win.close();
});

test("a failing scrubUrl hook breaks neither init nor the page's requests, and no query leaves", async () => {
  const p = page();
  const sdk = await freshSdk();
  const hook = () => {
    throw new Error("bad hook");
  };
  sdk.init({ ...CONFIG, flushInterval: 5, scrubUrl: hook, flags: hook }, p.win);
  const res = await p.win.fetch("/api/x?user=42");
  assert.equal(res.status, 200);
  await tick(30);
  const req = p.events().find((e) => e.type === "request");
  assert.equal(req.request.url, "https://shop.example/api/x");
  assert.equal(p.batches[0].batch.context.page.url, "https://shop.example/product/7");
  p.win.close();
});
