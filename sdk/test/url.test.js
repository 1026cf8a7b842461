import { test } from "node:test";
import assert from "node:assert/strict";
import { propagates, scrubUrl } from "../src/url.js";

test("trace headers go only to configured origins, matched exactly", () => {
  const list = ["https://shop.example", "https://api.shop.example/", /^https:\/\/cdn\d\.shop\.example\/api\//];
  const base = "https://shop.example/cart";
  assert.ok(propagates("/api/cart", list, base));
  assert.ok(propagates("https://api.shop.example/v1/x", list, base));
  assert.ok(propagates("https://cdn2.shop.example/api/y", list, base));
  assert.ok(!propagates("https://shop.example.evil.com/api", list, base));
  assert.ok(!propagates("http://shop.example/api", list, base), "scheme is part of the origin");
  assert.ok(!propagates("https://www.google-analytics.com/collect", list, base));
  assert.ok(!propagates("https://cdn2.shop.example/img.png", list, base));
  assert.ok(!propagates("http://[bad", list, base));
  assert.ok(!propagates("/x", [], base));
});

test("sensitive query values are redacted, others kept", () => {
  const out = scrubUrl("https://shop.example/reset?token=abc123&ref=mail&Email=a%40b.com&page=2&api_key=k&password=p");
  assert.equal(out, "https://shop.example/reset?token=[redacted]&ref=mail&Email=[redacted]&page=2&api_key=[redacted]&password=[redacted]");
});

test("fragments with parameters are scrubbed, plain fragments kept", () => {
  assert.equal(scrubUrl("https://a.example/cb#access_token=xyz&state=1"), "https://a.example/cb#access_token=[redacted]&state=1");
  assert.equal(scrubUrl("https://a.example/docs#section-2"), "https://a.example/docs#section-2");
});

test("email addresses anywhere in the URL are redacted", () => {
  assert.equal(scrubUrl("https://a.example/users/jane.doe@example.com/orders?q=x"), "https://a.example/users/[redacted]/orders?q=x");
  assert.equal(scrubUrl("https://a.example/s?q=bob@example.org"), "https://a.example/s?q=[redacted]");
});

test("extra rules extend the defaults; relative URLs resolve against the base", () => {
  const rules = ["coupon", /^utm_/];
  assert.equal(scrubUrl("/c?coupon=SAVE&utm_source=x&id=3", rules, "https://s.example/"), "https://s.example/c?coupon=[redacted]&utm_source=[redacted]&id=3");
});

test("user info and unparsable URLs do not leak", () => {
  assert.equal(scrubUrl("https://user:pw@a.example/x"), "https://a.example/x");
  assert.equal(scrubUrl("not a url with me@example.com", undefined, undefined), "not a url with [redacted]");
});
