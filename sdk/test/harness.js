// A happy-dom page with a scripted network: what the page fetched, what reached the
// Seamline endpoint (fetch or beacon), and a fake XMLHttpRequest.
import { Window } from "happy-dom";

export const ENDPOINT = "https://seamline.example/v1/client";
export const DOC_TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

let instance = 0;

/** A fresh copy of the SDK module: it keeps one running instance per module. */
export const freshSdk = () => import(`../src/index.js?instance=${++instance}`);

export function page({ url = "https://shop.example/product/7?token=s3cret&ref=mail", head = "", body = "" } = {}) {
  const win = new Window({ url });
  const doc = win.document;
  doc.head.innerHTML = head;
  doc.body.innerHTML = body;
  const batches = [];
  const requests = [];
  win.fetch = async (input, init = {}) => {
    const url = String(input);
    if (url.startsWith(ENDPOINT)) {
      batches.push({ via: "fetch", batch: JSON.parse(init.body), init });
      return { status: 200, headers: new Headers() };
    }
    requests.push({ url, headers: new Headers(init.headers) });
    return {
      status: url.includes("/missing") ? 404 : 200,
      headers: new Headers({ "server-timing": 'app;dur=12.5, traceparent;desc="00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-01"', "content-length": "321" }),
    };
  };
  Object.defineProperty(win.navigator, "sendBeacon", {
    configurable: true,
    value: (u, body) => (batches.push({ via: "beacon", batch: JSON.parse(body) }), true),
  });
  win.XMLHttpRequest = class FakeXHR {
    constructor() {
      this.listeners = {};
      this.sentHeaders = {};
      this.status = 0;
    }
    open(method, url) {
      this.method = method;
      this.url = url;
    }
    setRequestHeader(k, v) {
      this.sentHeaders[k.toLowerCase()] = v;
    }
    addEventListener(type, fn) {
      (this.listeners[type] ||= []).push(fn);
    }
    getAllResponseHeaders() {
      return "content-type: application/json\r\nserver-timing: db;dur=3\r\n";
    }
    send() {
      requests.push({ url: this.url, headers: new Headers(this.sentHeaders), xhr: true });
      setTimeout(() => {
        this.status = 201;
        (this.listeners.loadend || []).forEach((fn) => fn());
      }, 1);
    }
  };
  return { win, doc, batches, requests, events: () => batches.flatMap((b) => b.batch.events) };
}

export const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));
