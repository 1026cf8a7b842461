"""The shop's HTML: one layout, a few pages, and the snippet that loads Seamline's SDK."""

from __future__ import annotations

from html import escape

import orjson

LAYOUT = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{meta}
<title>{title} · Seamline demo shop</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7fb; }}
header {{ background: #1d2330; color: #fff; padding: .8rem 1.5rem; display: flex; gap: 1.5rem; align-items: center; }}
header a {{ color: #fff; text-decoration: none; }}
main {{ max-width: 56rem; margin: 1.5rem auto; padding: 0 1.5rem; }}
.grid {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(12rem, 1fr)); gap: 1rem; }}
.card {{ background: #fff; border-radius: .6rem; padding: 1rem; box-shadow: 0 1px 3px #0002; }}
.btn {{ background: #3056d3; color: #fff; border: 0; border-radius: .4rem; padding: .6rem 1.2rem;
        font: inherit; cursor: pointer; text-decoration: none; display: inline-block; }}
.price {{ font-weight: 600; }}
#status {{ margin-top: 1rem; min-height: 1.5rem; }}
</style>
{sdk}
</head>
<body>
<header><a href="/" class="brand"><strong>Seamline shop</strong></a>
<a href="/products" class="nav-link">Products</a><a href="/cart" id="cart-link" class="nav-link">Cart</a></header>
<main>
{body}
</main>
</body>
</html>
"""

SDK = """<script type="module">
import {{ init }} from {src};
init({config});
</script>"""


def sdk_snippet(seamline: str, config: dict[str, object]) -> str:
    """The module script that loads the SDK from Seamline's server and starts it."""
    src = orjson.dumps(f"{seamline.rstrip('/')}/sdk/seamline.min.js").decode()
    return SDK.format(src=src, config=orjson.dumps(config).decode())


def page(title: str, body: str, meta: str, sdk: str) -> str:
    """A full HTML page."""
    return LAYOUT.format(title=escape(title), body=body, meta=meta, sdk=sdk)


def home() -> str:
    """The landing page."""
    return """<h1>Welcome</h1>
<p>Shoes, socks and laces, delivered tomorrow.</p>
<a href="/products" class="btn" id="shop-now" data-seamline-name="shop-now">Shop now</a>"""


def product_list(products: list[dict[str, object]]) -> str:
    """Every product as a card."""
    cards = "".join(
        f'<div class="card"><h3>{escape(str(p["name"]))}</h3><p class="price">{p["price"]:.2f} EUR</p>'
        f'<a href="/product/{p["id"]}" class="product-link" id="product-{p["id"]}">View</a></div>'
        for p in products
    )
    return f'<h1>Products</h1><div class="grid">{cards}</div>'


def product(p: dict[str, object]) -> str:
    """One product, with an add-to-cart button that calls the API."""
    return f"""<h1>{escape(str(p["name"]))}</h1>
<p>{escape(str(p["blurb"]))}</p>
<p class="price">{p["price"]:.2f} EUR</p>
<button id="add-to-cart" class="btn" data-seamline-name="add-to-cart" data-product="{p["id"]}">Add to cart</button>
<a href="/cart" class="btn" id="go-to-cart">Go to cart</a>
<div id="status"></div>
<script type="module">
document.getElementById("add-to-cart").addEventListener("click", async (e) => {{
  const res = await fetch("/api/cart", {{
    method: "POST",
    headers: {{ "content-type": "application/json" }},
    body: JSON.stringify({{ product_id: Number(e.currentTarget.dataset.product), quantity: 1 }}),
  }});
  const cart = await res.json();
  document.getElementById("status").textContent = `In your cart: ${{cart.items}} item(s)`;
}});
</script>"""


def cart() -> str:
    """The cart, filled by the API from the page's script."""
    return """<h1>Your cart</h1>
<div id="lines" class="card">Loading…</div>
<p><a href="/checkout" class="btn" id="checkout" data-seamline-name="checkout">Checkout</a></p>
<script type="module">
fetch("/api/cart").then((r) => r.json()).then((cart) => {
  const lines = document.getElementById("lines");
  lines.textContent = "";
  for (const line of cart.lines) {
    const row = document.createElement("div");
    row.textContent = `${line.quantity} × ${line.name} — ${line.total.toFixed(2)} EUR`;
    lines.appendChild(row);
  }
  if (!cart.lines.length) lines.textContent = "Your cart is empty.";
});
</script>"""


def checkout() -> str:
    """The checkout form; paying posts to the API."""
    return """<h1>Checkout</h1>
<form id="checkout-form" class="card">
<label>Card number <input id="card" name="card" autocomplete="off" value="4242 4242 4242 4242"></label>
<p><button type="submit" id="pay" class="btn" data-seamline-name="pay">Pay now</button></p>
</form>
<div id="status"></div>
<script type="module">
document.getElementById("checkout-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const res = await fetch("/api/checkout", {
    method: "POST", headers: { "content-type": "application/json" }, body: "{}",
  });
  const body = await res.json();
  document.getElementById("status").textContent = res.ok ? `Order ${body.order_id} placed` : `Failed: ${body.detail}`;
});
</script>"""
