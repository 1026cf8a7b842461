// Batching and delivery: size and time limits, fetch with keepalive, sendBeacon when the
// page goes away, exponential backoff, and a bounded queue in localStorage that outlives
// the page so events made offline arrive on a later visit.

const OUTBOX_KEY = "seamline.outbox";
const RETRYABLE = (status) => status === 0 || status === 408 || status === 429 || status >= 500;

export class Transport {
  /**
   * opts: endpoint, envelope() -> {sdk, session, context} at batch time, now() -> epoch ms,
   * fetch, beacon(url, body) -> bool, storage (localStorage-like or null), maxEvents,
   * maxBytes, interval (ms), maxQueue (events kept while undelivered), backoff (first
   * retry delay, ms), maxBackoff, random, timers ({setTimeout, clearTimeout}), online() -> bool.
   */
  constructor(opts) {
    this.o = opts;
    this.buffer = [];
    this.bytes = 0;
    this.timer = null;
    this.retry = null;
    this.attempt = 0;
    this.inflight = null;
    this.queue = this.load();
  }

  /** Adds one event; sends when the batch is full, else within `interval` ms. */
  add(event) {
    const size = JSON.stringify(event).length;
    if (this.bytes + size > this.o.maxBytes && this.buffer.length) this.flush();
    this.buffer.push(event);
    this.bytes += size;
    if (this.buffer.length >= this.o.maxEvents || this.bytes >= this.o.maxBytes) this.flush();
    else if (!this.timer) this.timer = this.o.timers.setTimeout(() => this.flush(), this.o.interval);
  }

  /** Closes the current batch and starts delivery; `beacon` when the page is going away. */
  flush(beacon = false) {
    if (this.timer) this.o.timers.clearTimeout(this.timer);
    this.timer = null;
    if (this.buffer.length) {
      this.queue.push({ ...this.o.envelope(), events: this.buffer });
      this.buffer = [];
      this.bytes = 0;
      this.cap();
      this.save();
    }
    if (beacon) this.beaconAll();
    else this.pump();
  }

  /** Tries again now (the browser reported it is back online). */
  wake() {
    if (this.retry) this.o.timers.clearTimeout(this.retry);
    this.retry = null;
    this.attempt = 0;
    this.pump();
  }

  body(batch) {
    const { sdk, session, context, events } = batch;
    // sentAt is stamped per attempt: the server reads sentAt - receivedAt as the clock offset.
    return JSON.stringify({ v: 1, sdk, sentAt: this.o.now(), session, context, events });
  }

  pump() {
    if (this.inflight || this.retry || !this.queue.length) return;
    const batch = (this.inflight = this.queue[0]);
    const body = this.body(batch);
    batch.keepalive = body.length < 60000;
    const done = (status) => {
      this.inflight = null;
      if (RETRYABLE(status)) {
        if (!this.queue.includes(batch)) {
          // Handed to keepalive when the page was hidden, yet the page lived on: keep it again.
          this.queue.unshift(batch);
          this.save();
        }
        const delay = Math.min(this.o.maxBackoff, this.o.backoff * 2 ** this.attempt++);
        this.retry = this.o.timers.setTimeout(() => {
          this.retry = null;
          this.pump();
        }, delay * (0.5 + this.o.random() / 2));
        return;
      }
      // Delivered, or refused for good (4xx): resending the same bytes cannot help.
      this.attempt = 0;
      this.drop(batch);
      this.pump();
    };
    let sent;
    try {
      sent = this.o.fetch(this.o.endpoint, {
        method: "POST",
        body,
        // text/plain keeps the request "simple": no CORS preflight before every batch.
        headers: { "content-type": "text/plain;charset=UTF-8" },
        keepalive: batch.keepalive,
        credentials: "omit",
      });
    } catch {
      sent = Promise.reject();
    }
    Promise.resolve(sent).then(
      (res) => done(res.status),
      () => done(0),
    );
  }

  beaconAll() {
    // Offline, a beacon is accepted and then lost: keep everything for the next page instead.
    if (this.o.online && !this.o.online()) return this.save();
    this.queue = this.queue.filter((batch) => {
      // The fetch in flight carries keepalive and finishes without the page; keeping it too
      // would make the next page send it again.
      if (batch === this.inflight) return !batch.keepalive;
      return !(this.o.beacon && this.o.beacon(this.o.endpoint, this.body(batch)));
    });
    this.save();
  }

  drop(batch) {
    const i = this.queue.indexOf(batch);
    if (i >= 0) this.queue.splice(i, 1);
    this.save();
  }

  /** Keeps at most maxQueue undelivered events, dropping the oldest first. */
  cap() {
    let over = this.queue.reduce((n, b) => n + b.events.length, 0) - this.o.maxQueue;
    for (const b of this.queue) {
      if (over <= 0) break;
      if (b === this.inflight) continue; // its bytes are already on the wire
      const cut = Math.min(b.events.length, over);
      b.events.splice(0, cut);
      over -= cut;
    }
    this.queue = this.queue.filter((b) => b.events.length || b === this.inflight);
  }

  load() {
    try {
      const stored = JSON.parse(this.o.storage.getItem(OUTBOX_KEY) || "[]");
      return Array.isArray(stored) ? stored.filter((b) => b && Array.isArray(b.events) && b.events.length) : [];
    } catch {
      return [];
    }
  }

  save() {
    try {
      if (this.queue.length) this.o.storage.setItem(OUTBOX_KEY, JSON.stringify(this.queue));
      else this.o.storage.removeItem(OUTBOX_KEY);
    } catch {} // storage full or disabled: the queue still lives in memory
  }

  /** Events waiting: in the open batch plus the undelivered ones. */
  get pending() {
    return this.buffer.length + this.queue.reduce((n, b) => n + b.events.length, 0);
  }
}
