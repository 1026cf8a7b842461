import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Window } from "happy-dom";
import { controlOf, describe } from "../src/dom.js";

const win = new Window({ url: "https://shop.example/" });
const doc = win.document;
after(() => win.close());

function html(markup) {
  doc.body.innerHTML = markup;
  return doc.body;
}

test("descriptor is tag#id.class with the seamline name, never the text", () => {
  html('<button id="checkout" class="btn primary extra" data-seamline-name="pay">Pay 42 EUR for jane@x.com</button>');
  const out = describe(doc.querySelector("button"));
  assert.equal(out, 'button#checkout.btn.primary[data-seamline-name="pay"]');
  assert.ok(!out.includes("Pay") && !out.includes("jane"));
});

test("generated class names and odd ids are left out", () => {
  html('<div id="123" class="css-1x2y3z sc-a1B2 card"></div>');
  assert.equal(describe(doc.querySelector("div")), "div.card");
});

test("inputs show their type but never their value", () => {
  html('<input id="q" type="search" value="secret text" name="q">');
  const out = describe(doc.querySelector("input"));
  assert.equal(out, 'input#q[type="search"]');
});

test("a click inside a control is attributed to the control", () => {
  html('<a href="/p/1?token=x" class="product-link"><span><img alt="shoe"></span></a>');
  const el = controlOf(doc.querySelector("img"));
  assert.equal(describe(el), "a.product-link");
});

test("a click outside any control describes the element itself", () => {
  html('<section class="hero"><p class="lead">hello</p></section>');
  assert.equal(describe(controlOf(doc.querySelector("p"))), "p.lead");
  assert.equal(controlOf(null), null);
});

test("quotes in the seamline name are escaped", () => {
  html('<div data-seamline-name=\'say "hi"\'></div>');
  assert.equal(describe(doc.querySelector("div")), 'div[data-seamline-name="say \\"hi\\""]');
});
