"""The simulated shop as data: pages, endpoints, services, browsers, regions, networks.

Everything the traffic generator needs to know about the world lives in these tables, so a
reader can change the shop (add a route, a browser, a region) without touching behaviour.
"""

# ruff: noqa: E501  -- table rows (User-Agents, SQL, endpoint specs) read best one per line

from __future__ import annotations

import math
from dataclasses import dataclass, field

ORIGIN = "https://shop.example"
LEGACY_ORIGIN = "https://reco.shop.example"
APP_NAME = "shop-web"
ENVIRONMENT = "production"
SDK = {"name": "seamline-browser", "version": "0.1.0"}

# Flows: named user journeys. Action names are "<flow>.<step>" so a query can group by flow.
FLOWS = ("browse", "search", "checkout", "login")
FLOW_WEIGHTS = (0.36, 0.26, 0.26, 0.12)  # which journey a session starts with

PAGE_TITLES = {
    "/": "Shop — Home",
    "/search": "Search results — Shop",
    "/product/{id}": "Product — Shop",
    "/cart": "Your cart — Shop",
    "/checkout": "Checkout — Shop",
    "/login": "Sign in — Shop",
}

SEARCH_TERMS = (
    "running shoes",
    "rain jacket",
    "backpack",
    "headphones",
    "coffee grinder",
    "desk lamp",
    "yoga mat",
    "water bottle",
    "wool socks",
    "phone case",
    "usb c cable",
    "notebook",
    "espresso cups",
    "hiking boots",
    "sunglasses",
    "bike light",
    "tent",
    "kettle",
)
PRODUCT_IDS = range(1000, 1600)
SEGMENTS = ("free", "pro", "business")
SEGMENT_WEIGHTS = (0.7, 0.25, 0.05)


def lognormal_mu(median_ms: float) -> float:
    """Location parameter of a log-normal with the given median (what `lognormvariate` takes)."""
    return math.log(median_ms)


@dataclass(frozen=True, slots=True)
class Db:
    """One SQL statement a service runs against postgres."""

    operation: str
    table: str
    statement: str
    median_ms: float
    sigma: float = 0.5
    mu: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mu", lognormal_mu(self.median_ms))


@dataclass(frozen=True, slots=True)
class Call:
    """An HTTP call from one service to an endpoint of another."""

    service: str
    method: str
    route: str
    timeout_ms: float = 10_000.0


@dataclass(frozen=True, slots=True)
class Ext:
    """A call to a third party outside our tracing: only our CLIENT span exists."""

    host: str
    method: str
    path: str
    median_ms: float
    sigma: float = 0.35
    mu: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mu", lognormal_mu(self.median_ms))


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What a service does for one route: its own work, then its downstream steps in order."""

    service: str
    method: str
    route: str
    work_ms: float  # median of the service's own time, split around the downstream steps
    steps: tuple[Db | Call | Ext, ...] = ()
    status: int = 200
    response_bytes: int = 2_000
    sigma: float = 0.45
    mu: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mu", lognormal_mu(self.work_ms))


_PRODUCT_BY_ID = Db(
    "SELECT", "products", "SELECT id, name, price_cents, currency, stock FROM products WHERE id = $1", 1.8
)
_INVENTORY = Db("SELECT", "inventory", "SELECT warehouse_id, quantity FROM inventory WHERE product_id = $1", 1.2)
_FEATURED = Db(
    "SELECT", "products", "SELECT id, name, price_cents FROM products WHERE featured = true ORDER BY rank LIMIT $1", 3.5
)
_CART_ITEMS = Db(
    "SELECT", "cart_items", "SELECT product_id, quantity, price_cents FROM cart_items WHERE cart_id = $1", 1.5
)
_CART_INSERT = Db(
    "INSERT",
    "cart_items",
    "INSERT INTO cart_items (cart_id, product_id, quantity, price_cents) VALUES ($1, $2, $3, $4)",
    2.5,
)
_CART_TOUCH = Db("UPDATE", "carts", "UPDATE carts SET updated_at = now() WHERE id = $1", 1.6)
_PAYMENT_INSERT = Db(
    "INSERT",
    "payments",
    "INSERT INTO payments (order_id, amount_cents, currency, psp_ref, status) VALUES ($1, $2, $3, $4, $5)",
    2.8,
)
_ORDER_INSERT = Db(
    "INSERT",
    "orders",
    "INSERT INTO orders (user_id, cart_id, total_cents, currency) VALUES ($1, $2, $3, $4) RETURNING id",
    3.2,
)
_USER_BY_EMAIL = Db("SELECT", "users", "SELECT id, password_hash, plan FROM users WHERE email = $1", 1.4)

PSP_HOST = "api.psp.example"  # payments' external processor: a CLIENT span with no server side
# The slow dependency the bad payments release adds (incident 1).
FRAUD_CHECK = Ext("risk.psp.example", "POST", "/v2/assessments", 950.0, 0.35)

# Downstream (internal) endpoints, keyed by (service, route).
_INTERNAL_LIST = (
    Endpoint("catalog", "GET", "/products/featured", 6.0, (_FEATURED,), response_bytes=9_000),
    Endpoint("catalog", "GET", "/products/{id}", 4.0, (_PRODUCT_BY_ID, _INVENTORY), response_bytes=3_500),
    Endpoint("catalog", "GET", "/stock/{id}", 2.0, (_INVENTORY,), response_bytes=300),
    Endpoint("search", "GET", "/search", 28.0, (), response_bytes=14_000, sigma=0.6),
    Endpoint("search", "GET", "/suggest", 6.0, (), response_bytes=700),
    Endpoint("cart", "GET", "/carts/{id}", 3.0, (_CART_ITEMS,), response_bytes=1_800),
    Endpoint("cart", "POST", "/carts/{id}/items", 4.0, (_CART_INSERT, _CART_TOUCH), status=201, response_bytes=600),
    Endpoint(
        "payments",
        "POST",
        "/charges",
        12.0,
        (Ext(PSP_HOST, "POST", "/v1/payment_intents", 170.0), _PAYMENT_INSERT),
        status=201,
        response_bytes=400,
    ),
)
INTERNAL: dict[tuple[str, str], Endpoint] = {(e.service, e.route): e for e in _INTERNAL_LIST}

_CATALOG_TIMEOUT = 2_500.0  # the api gives up on catalog after this; drives the 504 cascade

# Public endpoints behind the gateway, keyed by (method, route). All are served by "api".
PUBLIC: dict[tuple[str, str], Endpoint] = {
    (e.method, e.route): e
    for e in (
        # server-rendered documents
        Endpoint(
            "api",
            "GET",
            "/",
            14.0,
            (Call("catalog", "GET", "/products/featured", _CATALOG_TIMEOUT),),
            response_bytes=46_000,
        ),
        Endpoint("api", "GET", "/search", 9.0, (Call("search", "GET", "/search"),), response_bytes=38_000),
        Endpoint(
            "api",
            "GET",
            "/product/{id}",
            11.0,
            (Call("catalog", "GET", "/products/{id}", _CATALOG_TIMEOUT),),
            response_bytes=52_000,
        ),
        Endpoint("api", "GET", "/cart", 9.0, (Call("cart", "GET", "/carts/{id}"),), response_bytes=30_000),
        Endpoint("api", "GET", "/checkout", 10.0, (Call("cart", "GET", "/carts/{id}"),), response_bytes=33_000),
        Endpoint("api", "GET", "/login", 5.0, (), response_bytes=20_000),
        # JSON API
        Endpoint(
            "api",
            "GET",
            "/api/products/{id}",
            4.0,
            (Call("catalog", "GET", "/products/{id}", _CATALOG_TIMEOUT),),
            response_bytes=3_600,
        ),
        Endpoint(
            "api",
            "GET",
            "/api/stock/{id}",
            3.0,
            (Call("catalog", "GET", "/stock/{id}", _CATALOG_TIMEOUT),),
            response_bytes=320,
        ),
        Endpoint("api", "GET", "/api/search/suggest", 3.0, (Call("search", "GET", "/suggest"),), response_bytes=800),
        Endpoint("api", "GET", "/api/search", 4.0, (Call("search", "GET", "/search"),), response_bytes=14_500),
        Endpoint("api", "GET", "/api/cart", 3.0, (Call("cart", "GET", "/carts/{id}"),), response_bytes=1_900),
        Endpoint(
            "api",
            "POST",
            "/api/cart/items",
            5.0,
            (Call("cart", "POST", "/carts/{id}/items"),),
            status=201,
            response_bytes=650,
        ),
        Endpoint(
            "api",
            "POST",
            "/api/checkout",
            18.0,
            (Call("cart", "GET", "/carts/{id}"), Call("payments", "POST", "/charges", 15_000.0), _ORDER_INSERT),
            status=201,
            response_bytes=900,
        ),
        Endpoint("api", "POST", "/api/login", 45.0, (_USER_BY_EMAIL,), response_bytes=450, sigma=0.25),
    )
}


@dataclass(frozen=True, slots=True)
class Service:
    """A backend service: how it logs and which OpenTelemetry instrumentation names its spans."""

    name: str
    language: str  # "python" or "nodejs"; decides log shape and instrumentation scopes
    log_style: str  # "structlog" or "pino"
    port: int
    pods: int
    log_utc_offset_min: int = 0  # a service whose container runs in local time writes +01:00
    server_scope: tuple[str, str] = ("", "")
    client_scope: tuple[str, str] = ("", "")
    db_scope: tuple[str, str] = ("", "")


SERVICES: dict[str, Service] = {
    s.name: s
    for s in (
        Service(
            "api",
            "python",
            "structlog",
            8000,
            4,
            server_scope=("opentelemetry.instrumentation.fastapi", "0.48b0"),
            client_scope=("opentelemetry.instrumentation.httpx", "0.48b0"),
            db_scope=("opentelemetry.instrumentation.asyncpg", "0.48b0"),
        ),
        Service(
            "cart",
            "python",
            "structlog",
            8001,
            2,
            server_scope=("opentelemetry.instrumentation.fastapi", "0.48b0"),
            db_scope=("opentelemetry.instrumentation.sqlalchemy", "0.48b0"),
        ),
        Service(
            "payments",
            "python",
            "structlog",
            8002,
            2,
            log_utc_offset_min=60,
            server_scope=("opentelemetry.instrumentation.flask", "0.48b0"),
            client_scope=("opentelemetry.instrumentation.requests", "0.48b0"),
            db_scope=("opentelemetry.instrumentation.psycopg", "0.48b0"),
        ),
        Service("search", "nodejs", "pino", 3000, 3, server_scope=("@opentelemetry/instrumentation-http", "0.53.0")),
        Service(
            "catalog",
            "nodejs",
            "pino",
            3001,
            3,
            server_scope=("@opentelemetry/instrumentation-http", "0.53.0"),
            db_scope=("@opentelemetry/instrumentation-pg", "0.45.0"),
        ),
    )
}
LOGGERS = {"api": "shop.api", "cart": "shop.cart", "payments": "payments.charges"}
DB_HOST = "db-primary.internal"
DB_NAME = "shop"


@dataclass(frozen=True, slots=True)
class Browser:
    """A User-Agent and what the browser exposes to the SDK."""

    ua: str
    family: str  # chrome, firefox, safari, edge, mobile_safari, android_chrome
    device: str  # desktop, mobile, tablet
    weight: float
    netinfo: bool  # Network Information API: only Chromium exposes it


BROWSERS: tuple[Browser, ...] = (
    Browser(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "chrome",
        "desktop",
        0.20,
        True,
    ),
    Browser(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
        "chrome",
        "desktop",
        0.06,
        True,
    ),
    Browser(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "chrome",
        "desktop",
        0.07,
        True,
    ),
    Browser(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "chrome",
        "desktop",
        0.02,
        True,
    ),
    Browser(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        "edge",
        "desktop",
        0.07,
        True,
    ),
    Browser(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
        "firefox",
        "desktop",
        0.05,
        False,
    ),
    Browser(
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "firefox", "desktop", 0.015, False
    ),
    Browser(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        "safari",
        "desktop",
        0.06,
        False,
    ),
    Browser(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "mobile_safari",
        "mobile",
        0.17,
        False,
    ),
    Browser(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
        "mobile_safari",
        "mobile",
        0.04,
        False,
    ),
    Browser(
        "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "mobile_safari",
        "tablet",
        0.02,
        False,
    ),
    Browser(
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
        "android_chrome",
        "mobile",
        0.19,
        True,
    ),
    Browser(
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36",
        "android_chrome",
        "mobile",
        0.045,
        True,
    ),
)


@dataclass(frozen=True, slots=True)
class Region:
    """A coarse client region: its clock (for the daily cycle), its share and distance to the shop."""

    name: str
    utc_offset_h: float
    weight: float
    extra_rtt_ms: float  # distance to the eu-west data centre, added to the access network's rtt
    ipv4_prefixes: tuple[str, ...]
    ipv6_prefix: str


REGIONS: tuple[Region, ...] = (
    Region("eu-west", 0.0, 0.22, 6.0, ("81.2", "86.14", "109.77"), "2a02:c7c"),
    Region("eu-central", 1.0, 0.17, 16.0, ("84.56", "91.64", "178.19"), "2003:e6"),
    Region("us-east", -5.0, 0.24, 80.0, ("73.12", "98.116", "173.48"), "2601:18f"),
    Region("us-west", -8.0, 0.11, 140.0, ("76.102", "67.160"), "2600:1700"),
    Region("ap-south", 5.5, 0.12, 125.0, ("49.36", "106.51", "117.97"), "2401:4900"),
    Region("ap-southeast", 8.0, 0.09, 165.0, ("118.200", "49.245"), "2400:8901"),
    Region("sa-east", -3.0, 0.05, 190.0, ("177.92", "189.6"), "2804:14c"),
)


@dataclass(frozen=True, slots=True)
class Network:
    """An access network: round trip and downlink ranges before the region's distance is added."""

    kind: str  # wifi, ethernet, cellular
    rtt_ms: tuple[float, float]
    downlink_mbps: tuple[float, float]
    weight_desktop: float
    weight_mobile: float
    loss: float  # chance a fetch dies with status 0


NETWORKS: tuple[Network, ...] = (
    Network("wifi", (15.0, 45.0), (20.0, 90.0), 0.62, 0.45, 0.0005),
    Network("ethernet", (5.0, 20.0), (50.0, 300.0), 0.30, 0.0, 0.0002),
    Network("cellular-4g", (50.0, 140.0), (4.0, 20.0), 0.08, 0.40, 0.0015),
    Network("cellular-3g", (280.0, 520.0), (0.6, 1.6), 0.0, 0.13, 0.006),
    Network("cellular-2g", (1400.0, 1900.0), (0.15, 0.35), 0.0, 0.02, 0.02),
)


def effective_type(rtt_ms: float, downlink_mbps: float) -> str:
    """Chrome's Network Information `effectiveType` from the measured rtt and downlink."""
    if rtt_ms >= 2000 or downlink_mbps < 0.05:
        return "slow-2g"
    if rtt_ms >= 1400 or downlink_mbps < 0.07:
        return "2g"
    if rtt_ms >= 270 or downlink_mbps < 0.7:
        return "3g"
    return "4g"


# Baseline JS errors, as each engine words them (the same bug reads differently per browser).
BASELINE_ERRORS: tuple[tuple[str, str, str], ...] = (
    ("Error", "ResizeObserver loop completed with undelivered notifications.", "error"),
    ("Error", "Script error.", "error"),
    ("TypeError", "Cannot read properties of null (reading 'addEventListener')", "error"),
    ("Error", "Request aborted", "unhandledrejection"),
)
FAILED_FETCH = {
    "chrome": "Failed to fetch",
    "edge": "Failed to fetch",
    "android_chrome": "Failed to fetch",
    "firefox": "NetworkError when attempting to fetch resource.",
    "safari": "Load failed",
    "mobile_safari": "Load failed",
}
# The bug shipped in the bad frontend release: reading a price off a missing variant.
PRICE_BUG = {
    "chrome": "Cannot read properties of undefined (reading 'price')",
    "edge": "Cannot read properties of undefined (reading 'price')",
    "android_chrome": "Cannot read properties of undefined (reading 'price')",
    "firefox": 'can\'t access property "price", e.variant is undefined',
    "safari": "undefined is not an object (evaluating 'e.variant.price')",
    "mobile_safari": "undefined is not an object (evaluating 'e.variant.price')",
}
