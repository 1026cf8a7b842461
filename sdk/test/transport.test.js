import { test } from "node:test";
import assert from "node:assert/strict";
import { Transport } from "../src/transport.js";

/** Timers the test advances by hand. */
function fakeTimers() {
  let t = 0;
  let seq = 0;
  const pending = new Map();
  return {
    setTimeout: (fn, ms) => (pending.set(++seq, { fn, at: t + ms }), seq),
    clearTimeout: (id) => pending.delete(id),
    get delays() {
      return [...pending.values()].map((p) => p.at - t);
    },
    async advance(ms) {
      t += ms;
      for (const [id, p] of [...pending].sort((a, b) => a[1].at - b[1].at)) {
        if (p.at <= t && pending.has(id)) {
          pending.delete(id);
          p.fn();
        }
      }
      await settle();
    },
  };
}

const settle = () => new Promise((r) => setImmediate(r));

function memoryStorage() {
  const m = new Map();
  return { getItem: (k) => (m.has(k) ? m.get(k) : null), setItem: (k, v) => m.set(k, String(v)), removeItem: (k) => m.delete(k), m };
}

/** A Transport with a scripted server: `answers` are statuses (or "down" for a network error). */
function rig(opts = {}, answers = []) {
  const timers = fakeTimers();
  const sent = [];
  const storage = opts.storage || memoryStorage();
  const fetch = async (url, init) => {
    const answer = answers.length ? answers.shift() : 200;
    sent.push({ url, init, body: JSON.parse(init.body), answer });
    if (answer === "down") throw new TypeError("Failed to fetch");
    return { status: answer };
  };
  let clock = 1764410000000;
  const t = new Transport({
    endpoint: "https://seamline.example/v1/client",
    envelope: () => ({ sdk: { name: "seamline-browser", version: "0.1.0" }, session: { id: "s_1", anonymousId: "a_1" }, context: {} }),
    now: () => (clock += 1),
    fetch,
    beacon: opts.beacon,
    storage,
    maxEvents: 5,
    maxBytes: 2000,
    interval: 5000,
    maxQueue: 12,
    backoff: 1000,
    maxBackoff: 8000,
    random: () => 1,
    timers,
    ...opts,
  });
  return { t, timers, sent, storage };
}

const ev = (i, pad = "") => ({ type: "track", id: `e${i}`, ts: 1764410000000 + i, event: "x" + pad });

test("a full batch is sent at once", async () => {
  const { t, sent } = rig();
  for (let i = 0; i < 5; i++) t.add(ev(i));
  await settle();
  assert.equal(sent.length, 1);
  assert.deepEqual(sent[0].body.events.map((e) => e.id), ["e0", "e1", "e2", "e3", "e4"]);
  assert.equal(sent[0].init.headers["content-type"], "text/plain;charset=UTF-8");
  assert.equal(sent[0].init.keepalive, true);
});

test("a partial batch waits for the interval", async () => {
  const { t, sent, timers } = rig();
  t.add(ev(1));
  t.add(ev(2));
  await settle();
  assert.equal(sent.length, 0);
  await timers.advance(4999);
  assert.equal(sent.length, 0);
  await timers.advance(1);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].body.events.length, 2);
});

test("the byte limit closes a batch before it grows past it", async () => {
  const { t, sent } = rig();
  const big = "y".repeat(700);
  for (let i = 0; i < 4; i++) t.add(ev(i, big));
  await settle();
  assert.ok(sent.length >= 1);
  for (const s of sent) assert.ok(s.init.body.length <= 2000 + 300, `batch of ${s.init.body.length} chars`);
  assert.ok(sent[0].body.events.length < 4);
});

test("failures are retried with exponential backoff, then the queue drains in order", async () => {
  const { t, sent, timers } = rig({}, ["down", 503, 429, "down", 200]);
  t.add(ev(1));
  t.flush();
  await settle();
  assert.equal(sent.length, 1);
  const delays = [];
  for (let i = 0; i < 4; i++) {
    delays.push(timers.delays[0]);
    await timers.advance(timers.delays[0]);
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 8000]);
  assert.equal(sent.length, 5);
  assert.equal(t.pending, 0);
  // every attempt restamps sentAt: the server reads it against its own receive time
  const stamps = sent.map((s) => s.body.sentAt);
  assert.equal(new Set(stamps).size, stamps.length);
});

test("backoff stops growing at maxBackoff", async () => {
  const { t, timers } = rig({}, Array(8).fill("down"));
  t.add(ev(1));
  t.flush();
  await settle();
  const delays = [];
  for (let i = 0; i < 6; i++) {
    delays.push(timers.delays[0]);
    await timers.advance(timers.delays[0]);
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 8000, 8000]);
});

test("a 4xx answer drops the batch instead of retrying it", async () => {
  const { t, sent, timers, storage } = rig({}, [400]);
  t.add(ev(1));
  t.flush();
  await settle();
  assert.equal(sent.length, 1);
  assert.equal(t.pending, 0);
  assert.deepEqual(timers.delays, []);
  assert.equal(storage.getItem("seamline.outbox"), null);
});

test("undelivered events are kept in storage, capped, oldest dropped first", async () => {
  const { t, storage } = rig({}, Array(50).fill("down"));
  for (let i = 0; i < 20; i++) t.add(ev(i));
  await settle();
  const stored = JSON.parse(storage.getItem("seamline.outbox"));
  const ids = stored.flatMap((b) => b.events.map((e) => e.id));
  assert.ok(ids.length <= 12 + 5, `kept ${ids.length}`); // the batch in flight may stay whole
  assert.ok(ids.includes("e19"));
  assert.ok(!ids.includes("e6"));
});

test("a new page delivers what an earlier page left in storage", async () => {
  const storage = memoryStorage();
  const first = rig({ storage }, ["down"]);
  first.t.add(ev(1));
  first.t.flush();
  await settle();
  assert.ok(storage.getItem("seamline.outbox"));
  const second = rig({ storage });
  second.t.pump();
  await settle();
  assert.equal(second.sent.length, 1);
  assert.equal(second.sent[0].body.events[0].id, "e1");
  assert.equal(storage.getItem("seamline.outbox"), null);
});

test("wake() retries at once when the browser is back online", async () => {
  const { t, sent, timers } = rig({}, ["down", 200]);
  t.add(ev(1));
  t.flush();
  await settle();
  assert.equal(timers.delays.length, 1);
  t.wake();
  await settle();
  assert.equal(sent.length, 2);
  assert.equal(t.pending, 0);
});

test("leaving the page sends batches by beacon as text", async () => {
  const beacons = [];
  const { t, sent, storage } = rig({ beacon: (url, body) => (beacons.push({ url, body }), true) });
  t.add(ev(1));
  t.add(ev(2));
  t.flush(true);
  await settle();
  assert.equal(sent.length, 0);
  assert.equal(beacons.length, 1);
  assert.equal(typeof beacons[0].body, "string");
  assert.equal(JSON.parse(beacons[0].body).events.length, 2);
  assert.equal(storage.getItem("seamline.outbox"), null);
});

test("a refused beacon leaves the batch in storage for the next page", async () => {
  const { t, storage } = rig({ beacon: () => false });
  t.add(ev(1));
  t.flush(true);
  await settle();
  assert.equal(JSON.parse(storage.getItem("seamline.outbox"))[0].events[0].id, "e1");
});

test("the batch in flight when the page hides is left to keepalive, not kept for the next page", async () => {
  const beacons = [];
  let finish;
  const { t, storage } = rig({
    beacon: (url, body) => (beacons.push(body), true),
    fetch: () => new Promise((resolve) => (finish = resolve)),
  });
  t.add(ev(1));
  t.flush(); // in flight, unanswered
  t.add(ev(2));
  t.flush(true);
  assert.equal(beacons.length, 1);
  assert.equal(JSON.parse(beacons[0]).events[0].id, "e2");
  assert.equal(storage.getItem("seamline.outbox"), null);
  // the page lived on (a tab switch) and the fetch failed: the batch is queued again
  finish({ status: 503 });
  await settle();
  assert.equal(JSON.parse(storage.getItem("seamline.outbox"))[0].events[0].id, "e1");
});

test("offline when the page hides: nothing is beaconed, everything is kept", async () => {
  const beacons = [];
  const { t, storage } = rig({ beacon: (u, b) => (beacons.push(b), true), online: () => false });
  t.add(ev(1));
  t.flush(true);
  assert.equal(beacons.length, 0);
  assert.equal(JSON.parse(storage.getItem("seamline.outbox"))[0].events[0].id, "e1");
});
