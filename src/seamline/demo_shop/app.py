"""A small FastAPI shop instrumented end to end: the SDK in every page, the middleware on every request."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Cookie, FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from seamline.demo_shop import _pages
from seamline.instrument import JsonFormatter, SeamlineMiddleware, TraceContextFilter, open_sink, traceparent_meta

PRODUCTS: list[dict[str, object]] = [
    {"id": 1, "name": "Trail runner", "price": 89.0, "blurb": "Grippy soles for muddy paths."},
    {"id": 2, "name": "City sneaker", "price": 69.5, "blurb": "White, light, goes with everything."},
    {"id": 3, "name": "Wool socks", "price": 12.0, "blurb": "Warm feet, three pairs."},
    {"id": 4, "name": "Waxed laces", "price": 4.5, "blurb": "They stay tied."},
]
BY_ID = {p["id"]: p for p in PRODUCTS}
SERVICE = "demo-shop"


class CartItem(BaseModel):
    """A line the browser adds to its cart."""

    product_id: int
    quantity: int = 1


def create_shop(
    seamline: str, log: str | Path | None = None, sample_rate: float = 1.0, flush_ms: int = 1000
) -> FastAPI:
    """The shop app posting browser events to Seamline at `seamline` and writing its JSON log to `log`."""
    sink = open_sink(log, SERVICE) if log is not None else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if sink is not None:
            sink.close()  # posts what is still queued when logging to Seamline's URL

    shop = FastAPI(title="Seamline demo shop", docs_url=None, redoc_url=None, lifespan=lifespan)
    carts: dict[str, dict[int, int]] = {}
    logger = logging.getLogger("demo_shop")
    for old in logger.handlers[:]:  # a second shop in one process must not log twice
        logger.removeHandler(old)
        old.close()
    if log is not None and log != "-" and not str(log).startswith(("http://", "https://")):
        handler = logging.FileHandler(log)
        handler.addFilter(TraceContextFilter())
        handler.setFormatter(JsonFormatter(service=SERVICE, environment="demo"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    shop.add_middleware(
        SeamlineMiddleware,
        service=SERVICE,
        sink=sink,
        sample_rate=sample_rate,
        environment="demo",
        release="shop@0.1.0",
    )
    sdk_config: dict[str, object] = {
        "endpoint": f"{seamline.rstrip('/')}/v1/client",
        "app": {"name": "demo-shop-web", "release": "web@0.1.0", "environment": "demo"},
        "sampleRate": sample_rate,
        "flushInterval": flush_ms,
        "backoff": 500,
        "maxBackoff": 2000,
    }

    def html(title: str, body: str) -> HTMLResponse:
        # propagateTo defaults to the page's own origin, where the shop's API lives.
        return HTMLResponse(_pages.page(title, body, traceparent_meta(), _pages.sdk_snippet(seamline, sdk_config)))

    def cart_of(cart_id: str | None) -> tuple[str, dict[int, int]]:
        if not cart_id or cart_id not in carts:
            cart_id = secrets.token_hex(8)
            carts[cart_id] = {}
        return cart_id, carts[cart_id]

    @shop.get("/", response_class=HTMLResponse)
    def home() -> HTMLResponse:
        return html("Home", _pages.home())

    @shop.get("/products", response_class=HTMLResponse)
    def products() -> HTMLResponse:
        return html("Products", _pages.product_list(PRODUCTS))

    @shop.get("/product/{product_id}", response_class=HTMLResponse)
    def product(product_id: int) -> HTMLResponse:
        if product_id not in BY_ID:
            raise HTTPException(404, "no such product")
        return html(str(BY_ID[product_id]["name"]), _pages.product(BY_ID[product_id]))

    @shop.get("/cart", response_class=HTMLResponse)
    def cart_page() -> HTMLResponse:
        return html("Cart", _pages.cart())

    @shop.get("/checkout", response_class=HTMLResponse)
    def checkout_page() -> HTMLResponse:
        return html("Checkout", _pages.checkout())

    @shop.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @shop.get("/api/products")
    def api_products() -> list[dict[str, object]]:
        return PRODUCTS

    @shop.get("/api/cart")
    def api_cart(response: Response, cart: str | None = Cookie(default=None)) -> dict[str, object]:
        cart_id, lines = cart_of(cart)
        response.set_cookie("cart", cart_id, httponly=True, samesite="lax")
        out = [
            {"product_id": pid, "name": BY_ID[pid]["name"], "quantity": n, "total": n * float(BY_ID[pid]["price"])}  # type: ignore[arg-type]
            for pid, n in lines.items()
        ]
        return {"lines": out, "items": sum(lines.values())}

    @shop.post("/api/cart")
    def api_add(item: CartItem, response: Response, cart: str | None = Cookie(default=None)) -> dict[str, object]:
        if item.product_id not in BY_ID or not 0 < item.quantity <= 99:
            raise HTTPException(422, "unknown product or bad quantity")
        cart_id, lines = cart_of(cart)
        lines[item.product_id] = lines.get(item.product_id, 0) + item.quantity
        response.set_cookie("cart", cart_id, httponly=True, samesite="lax")
        logger.info("cart updated", extra={"product_id": item.product_id, "items": sum(lines.values())})
        return {"items": sum(lines.values())}

    @shop.post("/api/checkout")
    async def api_checkout(request: Request, cart: str | None = Cookie(default=None)) -> dict[str, object]:
        _, lines = cart_of(cart)
        if not lines:
            raise HTTPException(409, "cart is empty")
        await asyncio.sleep(0.03)  # the payment provider
        order_id = "o_" + secrets.token_hex(6)
        logger.info("order placed", extra={"order_id": order_id, "items": sum(lines.values())})
        lines.clear()
        return {"order_id": order_id}

    return shop
