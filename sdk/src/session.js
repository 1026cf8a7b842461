// Who is sending: a device-scoped anonymous id, a session id that rotates after a period
// of inactivity, and the user id set by identify(). All first-party storage, no cookies.

import { randomHex } from "./ids.js";

const KEY = "seamline.session";
const ANON = "seamline.anon";
const USER = "seamline.user";

function read(storage, key) {
  try {
    return storage.getItem(key);
  } catch {
    return null;
  }
}

function write(storage, key, value) {
  try {
    if (value == null) storage.removeItem(key);
    else storage.setItem(key, value);
  } catch {} // private mode or quota: ids then last as long as the page
}

export class Session {
  /** storage: localStorage-like (shared by the site's tabs); timeout: inactivity in ms. */
  constructor(storage, now, timeout) {
    this.s = storage;
    this.now = now;
    this.timeout = timeout;
    this.anonymousId = read(storage, ANON) || "a_" + randomHex(8);
    write(storage, ANON, this.anonymousId);
    this.userId = read(storage, USER) || undefined;
    this.id = null;
    this.last = 0;
  }

  /** The session id for an event happening now; touching it keeps the session alive. */
  touch() {
    const now = this.now();
    let stored = null;
    try {
      stored = JSON.parse(read(this.s, KEY) || "null");
    } catch {}
    // Another tab may have moved the session on: storage wins over this page's copy.
    if (stored && stored.id && stored.last >= this.last) ({ id: this.id, last: this.last } = stored);
    if (!this.id || now - this.last > this.timeout) this.id = "s_" + randomHex(8);
    this.last = now;
    write(this.s, KEY, JSON.stringify({ id: this.id, last: now }));
    return this.id;
  }

  identify(userId) {
    this.userId = userId == null ? undefined : String(userId);
    write(this.s, USER, this.userId);
  }

  /** The session block of a batch. */
  get wire() {
    const out = { id: this.id || this.touch(), anonymousId: this.anonymousId };
    if (this.userId) out.userId = this.userId;
    return out;
  }
}
