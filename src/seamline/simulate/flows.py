"""User journeys: browse, search, checkout, login, strung together into a session.

Each flow is a generator over a `Session`: it yields at every navigation (via
`Session.go`) and returns the true time it finished. Action names are "<flow>.<step>" so
the flow can be read back from the client data.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from urllib.parse import quote_plus

from seamline.simulate import model
from seamline.simulate.session import Session
from seamline.simulate.world import SessionOver

Flow = Generator[float, None, float]
_WITH_CART = (0.25, 0.15, 0.55, 0.05)  # FLOWS order: browse, search, checkout, login

_LANDING_REFERRERS = (
    "-",
    "-",
    "https://www.google.com/",
    "https://www.bing.com/",
    "https://t.co/",
    "android-app://com.google.android.gm/",
)


def _pid(s: Session) -> str:
    return str(s.rng.choice(model.PRODUCT_IDS))


def product_page(s: Session, t: float, pid: str, flow: str) -> float:
    """What a visitor does on a product page: maybe pick a variant, maybe add to cart."""
    rng = s.rng
    t = s.think(t, 9.0)
    if rng.random() < 0.35:
        aid = s.action(t, "click", "button.variant-option", f"{flow}.select_variant")
        _, t = s.request(
            t + rng.uniform(2.0, 12.0),
            "GET",
            f"/api/products/{pid}?variant={rng.randrange(1, 5)}",
            "/api/products/{id}",
            flow,
            aid,
            pid=pid,
        )
        t = s.think(t, 4.0)
    if rng.random() < 0.5:
        aid = s.action(t, "click", "button#add-to-cart", f"{flow}.add_to_cart")
        if s.price_bug:  # the broken price widget swallows the click; people try again, then give up
            if rng.random() < 0.6:
                t += rng.uniform(800.0, 3_000.0)
                s.action(t, "click", "button#add-to-cart", f"{flow}.add_to_cart")
            return t + rng.uniform(1_000.0, 4_000.0)
        status, t = s.request(
            t + rng.uniform(2.0, 12.0), "POST", "/api/cart/items", "/api/cart/items", flow, aid, req_bytes=120
        )
        if 200 <= status < 300:
            s.cart_items += 1
            s.track(t, "Product Added", {"flow": flow, "product_id": pid, "cart_items": s.cart_items})
            _, t = s.request(t + rng.uniform(1.0, 10.0), "GET", "/api/cart", "/api/cart", flow, aid)
        t = s.think(t, 3.0)
    return t


def browse(s: Session, t: float) -> Flow:
    """Open one to three products from cards on the current page."""
    rng = s.rng
    if s.route not in ("/", "/product/{id}", "/search"):
        s.action(t, "click", "a.logo", "browse.home")
        t = yield from s.go(t, "/", "/", "browse")
        t = s.think(t)
    for _ in range(rng.choice((1, 1, 2, 2, 3))):
        pid = _pid(s)
        s.action(t, "click", "a.product-card", "browse.open_product")
        t = yield from s.go(t, f"/product/{pid}", "/product/{id}", "browse", pid=pid)
        t = product_page(s, t, pid, "browse")
    return t


def search(s: Session, t: float) -> Flow:
    """Type with suggestions, submit, page through results, open one."""
    rng = s.rng
    term = rng.choice(model.SEARCH_TERMS)
    q = quote_plus(term)
    t = s.think(t, 4.0)
    for k in range(rng.randint(1, 3)):
        prefix = quote_plus(term[: min(len(term), 3 + 2 * k)])
        aid = s.action(t, "keypress", "input#search", "search.suggest")
        _, t = s.request(
            t + 150.0 + rng.uniform(0.0, 30.0),
            "GET",
            f"/api/search/suggest?q={prefix}",
            "/api/search/suggest",
            "search",
            aid,
            query=prefix,
        )
        t += rng.uniform(200.0, 1_500.0)
    s.action(t, "submit", "form#search", "search.submit")
    t = yield from s.go(t, f"/search?q={q}", "/search", "search", query=q)
    t = s.think(t, 6.0)
    if rng.random() < 0.3:
        aid = s.action(t, "click", "button.next-page", "search.next_page")
        _, t = s.request(t + 3.0, "GET", f"/api/search?q={q}&page=2", "/api/search", "search", aid, query=q)
        t = s.think(t, 5.0)
    if rng.random() < 0.8:
        pid = _pid(s)
        s.action(t, "click", "a.search-result", "search.open_result")
        t = yield from s.go(t, f"/product/{pid}", "/product/{id}", "search", pid=pid)
        t = product_page(s, t, pid, "search")
    return t


def login_form(s: Session, t: float, flow: str) -> float:
    """Fill in and submit the sign-in form (retrying a mistyped password once)."""
    rng = s.rng
    t = s.think(t, 8.0)
    for _ in range(2):
        aid = s.action(t, "submit", "form#login", f"{flow}.submit_login")
        status, t = s.request(t + 4.0, "POST", "/api/login", "/api/login", flow, aid, req_bytes=90)
        if status == 200:
            user = s.d.user_id or f"u_{rng.randrange(1, 250_000)}"
            segment = s.d.segment or rng.choices(model.SEGMENTS, model.SEGMENT_WEIGHTS)[0]
            s.identify(t + 2.0, user, segment)
            s.track(t + 3.0, "Signed In", {"flow": flow, "method": "password"})
            return t + 5.0
        t = s.think(t, 5.0)
    return t


def login(s: Session, t: float) -> Flow:
    """Go to the sign-in page, sign in, come back home."""
    s.action(t, "click", "a#login-link", "login.open")
    t = yield from s.go(t, "/login", "/login", "login")
    t = login_form(s, t, "login")
    if s.d.user_id:
        s.action(t, "click", "a.logo", "login.home")
        t = yield from s.go(t, "/", "/", "login")
        t = s.think(t, 4.0)
    return t


def checkout(s: Session, t: float) -> Flow:
    """Cart, sign in if needed, checkout page, place the order (retrying on failure)."""
    rng = s.rng
    s.action(t, "click", "a#cart-link", "checkout.open_cart")
    t = yield from s.go(t, "/cart", "/cart", "checkout")
    t = s.think(t, 5.0)
    if rng.random() < 0.12:
        return t  # looked at the cart, left it
    s.action(t, "click", "button#checkout", "checkout.start")
    if not s.d.user_id:
        t = yield from s.go(t, "/login?next=%2Fcheckout", "/login", "checkout")
        t = login_form(s, t, "checkout")
        if not s.d.user_id:
            return t
    t = yield from s.go(t, "/checkout", "/checkout", "checkout")
    t = s.think(t, 25.0)  # address and card details
    for _ in range(3):
        aid = s.action(t, "click", "button#place-order", "checkout.place_order")
        status, t = s.request(t + 3.0, "POST", "/api/checkout", "/api/checkout", "checkout", aid, req_bytes=1_400)
        if 200 <= status < 300:
            items = max(1, s.cart_items)
            revenue = round(items * rng.uniform(9.0, 120.0), 2)
            s.track(
                t + 2.0, "Order Completed", {"flow": "checkout", "items": items, "revenue": revenue, "currency": "EUR"}
            )
            s.cart_items = 0
            return t + 3.0
        s.error(t + 1.0, "CheckoutError", f"Checkout failed: {status}", "unhandledrejection", "placeOrder")
        if rng.random() < 0.35:
            break
        t += rng.uniform(2_000.0, 9_000.0)  # read the error banner, click again
    return t


FLOWS = {"browse": browse, "search": search, "checkout": checkout, "login": login}


def run_session(s: Session) -> Iterator[float]:
    """The whole visit: a landing page, one to four flows, then the tab is hidden."""
    rng = s.rng
    t = s.t0
    try:
        referrer = rng.choice(_LANDING_REFERRERS)
        flow = rng.choices(model.FLOWS, model.FLOW_WEIGHTS)[0]
        if rng.random() < 0.35:  # deep link from a search engine or a newsletter
            pid = _pid(s)
            t = s.page(
                t,
                f"/product/{pid}?ref=mail" if referrer == "-" else f"/product/{pid}",
                "/product/{id}",
                flow,
                referrer,
                pid=pid,
            )
            t = product_page(s, t, pid, flow)
        else:
            t = s.page(t, "/", "/", flow, referrer)
            t = s.think(t, 5.0)
        for _ in range(4):
            t = yield from FLOWS[flow](s, t)
            if rng.random() > 0.45:
                break
            # something in the cart makes checkout the likely next step
            flow = rng.choices(model.FLOWS, _WITH_CART if s.cart_items else model.FLOW_WEIGHTS)[0]
            t = s.think(t, 5.0)
        s.hide(s.think(t, 10.0))
    except SessionOver:
        pass  # raised at a navigation, after the old page's buffer was flushed: nothing is pending
