"""Enrichment transforms: route templates and URL scrubbing, user-agent parsing, flags and segments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from seamline.schema import rows_to_batch
from seamline.settings import Settings
from seamline.sources._time import iso_to_us
from seamline.transforms import PIPELINE, Context, apply, pseudonymize
from seamline.transforms.enrich import enrich, load_flag_timeline, load_segment_map
from seamline.transforms.routes import scrub_url, template_path, template_routes
from seamline.transforms.user_agent import parse_one, parse_user_agent

T0 = iso_to_us("2026-11-02T10:00:00Z")


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    """A context with fixed settings and key, isolated from the environment."""
    return Context(settings=Settings({"home": tmp_path}, environ={}), pseudonym_key=b"k" * 32)


def _batch(rows: list[dict[str, Any]]) -> pa.RecordBatch:
    return rows_to_batch([{"kind": "client_request", "ts": T0, **r} for r in rows])


def _col(batch: pa.RecordBatch, name: str) -> list[Any]:
    return batch.column(batch.schema.get_field_index(name)).to_pylist()


# --- routes -------------------------------------------------------------------------------------

ROUTES = [
    ("/product/123", "/product/{id}"),
    ("/orders/88/items/3", "/orders/{id}/items/{id}"),
    ("/users/550e8400-e29b-41d4-a716-446655440000", "/users/{uuid}"),
    ("/users/550E8400-E29B-41D4-A716-446655440000/cart", "/users/{uuid}/cart"),
    ("/files/3f9a1c2b4d5e6f708192a3b4c5d6e7f8", "/files/{hash}"),
    ("/commit/abcdef0123456789", "/commit/{hash}"),
    ("/commit/deadbeef", "/commit/deadbeef"),  # short hex is a name
    ("/u/jane.doe@example.com/settings", "/u/{email}/settings"),
    ("/u/jane.doe%40example.com", "/u/{email}"),
    ("/reset/eyJhbGciOiJIUzI1NiJ9abc123XYZ", "/reset/{token}"),
    ("/p/abcdefghij1234567890", "/p/{token}"),
    ("/p/ABCDEFGHIJKLMNOPQRST", "/p/ABCDEFGHIJKLMNOPQRST"),  # long, but no digits
    ("/blog/summer-sale-2024-shoes-collection", "/blog/summer-sale-2024-shoes-collection"),
    ("/api/v1/items", "/api/v1/items"),
    ("https://shop.example/product/123?ref=mail#reviews", "/product/{id}"),
    ("https://shop.example", "/"),
    ("//cdn.example/img/1.png", "/img/1.png"),
    ("/search?q=shoes&page=2", "/search"),
    ("/cart;jsessionid=ABC123", "/cart"),
    ("/product/{id}", "/product/{id}"),  # already templated
    ("/api/users/:id", "/api/users/:id"),
    ("/static/app.3f9a1c.js", "/static/app.3f9a1c.js"),
    ("/", "/"),
    ("", "/"),
]


@pytest.mark.parametrize(("path", "expected"), ROUTES)
def test_template_path(path: str, expected: str) -> None:
    """Identifier segments become placeholders; names, query and fragment do not survive as such."""
    assert template_path(path) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://shop.example/api/cart?session=abc&qty=1", "https://shop.example/api/cart?session=redacted&qty=1"),
        (
            "/api?access_token=x&apiKey=y&keyword=shoes&monkey=1",
            "/api?access_token=redacted&apiKey=redacted&keyword=shoes&monkey=1",
        ),
        (
            "/s3/o?X-Amz-Signature=ab12&X-Amz-Credential=c&part=2",
            "/s3/o?X-Amz-Signature=redacted&X-Amz-Credential=redacted&part=2",
        ),
        ("/cb?code=9f2&state=xyz&password=hunter2", "/cb?code=redacted&state=xyz&password=redacted"),
        (
            "/a?email=bob%40x.com&u=bob@x.com&sig=1&auth=2&secret=3",
            "/a?email=redacted&u=redacted&sig=redacted&auth=redacted&secret=redacted",
        ),
        ("https://user:pw@shop.example/a#access_token=zz", "https://shop.example/a"),
        ("/reset/jane@x.com/confirm;jsessionid=123", "/reset/{email}/confirm;jsessionid=redacted"),
        ("/product/123?ref=mail", "/product/123?ref=mail"),
        ("/api?token", "/api?token"),
    ],
)
def test_scrub_url(url: str, expected: str) -> None:
    """Secret and personal query values are redacted (names kept); ids stay, emails in paths go."""
    assert scrub_url(url) == expected


def test_template_routes_on_a_batch(ctx: Context) -> None:
    """route is filled from url where missing, page is templated, url and referrer are scrubbed."""
    batch = _batch(
        [
            {"url": "https://shop.example/api/orders/88?token=t0k", "page": "/orders/88"},
            {
                "url": "https://shop.example/api/orders/89?token=t1k",
                "route": "/api/orders/:id",
                "page": "https://shop.example/u/a@b.co?x=1",
                "referrer": "https://shop.example/?email=a%40b.co",
            },
            {},
        ]
    )
    out = template_routes(batch, ctx)
    assert _col(out, "route") == ["/api/orders/{id}", "/api/orders/:id", None]
    assert _col(out, "page") == ["/orders/{id}", "/u/{email}", None]
    assert _col(out, "url") == [
        "https://shop.example/api/orders/88?token=redacted",
        "https://shop.example/api/orders/89?token=redacted",
        None,
    ]
    assert _col(out, "referrer") == [None, "https://shop.example/?email=redacted", None]
    assert out.schema == batch.schema
    assert template_routes(out, ctx).equals(out)  # idempotent


# --- user agents ---------------------------------------------------------------------------------

UAS = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
        "Safari/537.36",
        ("Chrome", "131", "Windows", "desktop"),
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
        "Mobile/15E148 Safari/604.1",
        ("Mobile Safari", "17", "iOS", "mobile"),
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
        "Mobile/15E148 Safari/604.1",
        ("Mobile Safari", "17", "iOS", "tablet"),
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile "
        "Safari/537.36",
        ("Chrome Mobile", "131", "Android", "mobile"),
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
        "Safari/537.36",
        ("Chrome", "131", "Android", "tablet"),
    ),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", ("Googlebot", "2", None, "bot")),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
        "Safari/605.1.15",
        ("Safari", "17", "Mac OS X", "desktop"),
    ),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", ("Firefox", "133", "Linux", "desktop")),
    ("curl/8.5.0", ("curl", "8", None, "other")),
]


@pytest.mark.parametrize(("ua", "expected"), UAS, ids=[e[0] + "-" + e[3] for _, e in UAS])
def test_parse_one_user_agent(ua: str, expected: tuple[Any, ...]) -> None:
    """Real User-Agent strings give the expected browser, major version, OS and device class."""
    assert parse_one(ua) == expected


def test_parse_user_agent_fills_only_nulls_and_memoises(ctx: Context) -> None:
    """Known values are kept, missing ones filled, and each distinct UA is parsed once per context."""
    chrome, iphone = UAS[0][0], UAS[1][0]
    batch = _batch([{"user_agent": chrome}, {"user_agent": chrome, "browser": "Custom"}, {"user_agent": iphone}, {}])
    out = parse_user_agent(batch, ctx)
    assert _col(out, "browser") == ["Chrome", "Custom", "Mobile Safari", None]
    assert _col(out, "device_type") == ["desktop", "desktop", "mobile", None]
    assert _col(out, "browser_version") == ["131", "131", "17", None]
    assert set(ctx.memo("ua")) == {chrome, iphone}


# --- flags, segments, environment ----------------------------------------------------------------

TIMELINE = [
    {"ts": T0, "flag": "checkout_v2", "variant": "on"},
    {"ts": "2026-11-02T10:00:00Z", "flag": "search", "variant": "b", "environment": "staging"},
    {"ts": T0 + 60_000_000, "flag": "checkout_v2", "variant": "off"},
    {"ts": T0 + 120_000_000, "flag": "checkout_v2", "variant": None},
]


def test_flag_state_at_boundaries(ctx: Context) -> None:
    """A change applies from its own instant on: not a microsecond before, exactly at it, until the next."""
    ctx.flag_timeline = TIMELINE
    times = [T0 - 1, T0, T0 + 59_999_999, T0 + 60_000_000, T0 + 120_000_000]
    out = enrich(rows_to_batch([{"kind": "page_view", "ts": t} for t in times]), ctx)
    flags = [dict(f) if f else None for f in _col(out, "feature_flags")]
    assert flags == [None, {"checkout_v2": "on"}, {"checkout_v2": "on"}, {"checkout_v2": "off"}, None]


def test_flags_per_environment_and_under_record_flags(ctx: Context) -> None:
    """Environment-specific changes apply only there, and the record's own flags win."""
    ctx.flag_timeline = TIMELINE
    rows = [
        {"kind": "page_view", "ts": T0 + 1, "environment": "staging"},
        {
            "kind": "page_view",
            "ts": T0 + 1,
            "environment": "production",
            "feature_flags": {"checkout_v2": "off", "x": "1"},
        },
    ]
    flags = [dict(f) for f in _col(enrich(rows_to_batch(rows), ctx), "feature_flags")]
    assert flags == [{"checkout_v2": "on", "search": "b"}, {"checkout_v2": "off", "x": "1"}]


def test_segment_map_and_environment_default(ctx: Context) -> None:
    """Null segments are looked up by raw user id; known segments and environments are kept."""
    ctx.segment_map = {"u_1": "enterprise", "u_2": "free"}
    rows = [{"user_id": "u_1"}, {"user_id": "u_2", "segment": "pro", "environment": "staging"}, {"user_id": "u_3"}, {}]
    out = enrich(_batch(rows), ctx)
    assert _col(out, "segment") == ["enterprise", "pro", None, None]
    assert _col(out, "environment") == ["production", "staging", "production", "production"]


def test_pipeline_order_enriches_before_pseudonymizing(ctx: Context) -> None:
    """PIPELINE ends with pseudonymize, so the segment lookup still sees raw user ids."""
    assert PIPELINE[-1] is pseudonymize and PIPELINE.index(enrich) < PIPELINE.index(pseudonymize)
    ctx.segment_map = {"u_1": "enterprise"}
    out = apply(_batch([{"user_id": "u_1", "url": "/orders/7?token=x"}]), ctx)
    assert _col(out, "segment") == ["enterprise"] and _col(out, "user_id")[0].startswith("p_")
    assert _col(out, "route") == ["/orders/{id}"] and _col(out, "url") == ["/orders/7?token=redacted"]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "flags.json",
            '[{"ts": "2026-11-02T10:01:00Z", "flag": "a", "variant": "off"},'
            ' {"ts": 1793613600000000, "flag": "a", "variant": "on"}]',
        ),
        (
            "flags.ndjson",
            '{"ts": 1793613660000, "flag": "a", "variant": "off"}\n'
            '{"ts": "2026-11-02T10:00:00Z", "flag": "a", "variant": "on"}\n',
        ),
        ("flags.csv", "ts,flag,variant,environment\n2026-11-02T10:01:00Z,a,off,\n2026-11-02T10:00:00Z,a,on,\n"),
    ],
)
def test_load_flag_timeline(tmp_path: Path, name: str, text: str) -> None:
    """JSON, NDJSON and CSV timelines load to µs times sorted ascending."""
    path = tmp_path / name
    path.write_text(text)
    changes = load_flag_timeline(path)
    assert [(c["ts"], c["variant"], c["environment"]) for c in changes] == [
        (T0, "on", None),
        (T0 + 60_000_000, "off", None),
    ]


def test_load_flag_timeline_rejects_bad_entries(tmp_path: Path) -> None:
    """A change without a usable time or flag is an error naming the entry."""
    path = tmp_path / "flags.json"
    path.write_text('[{"ts": "soon", "flag": "a", "variant": "on"}]')
    with pytest.raises(ValueError, match="entry 1"):
        load_flag_timeline(path)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("segments.csv", "user_id,segment\nu_1,enterprise\nu_2,free\n,orphan\n"),
        ("segments.json", '{"u_1": "enterprise", "u_2": "free"}'),
        ("segments2.json", '[{"user_id": "u_1", "segment": "enterprise"}, {"user_id": "u_2", "segment": "free"}]'),
    ],
)
def test_load_segment_map(tmp_path: Path, name: str, text: str) -> None:
    """CSV and JSON (object or list) segment maps load to user id -> segment."""
    path = tmp_path / name
    path.write_text(text)
    assert load_segment_map(path) == {"u_1": "enterprise", "u_2": "free"}


def test_load_segment_map_needs_the_columns(tmp_path: Path) -> None:
    """A CSV without user_id and segment columns is an error, not an empty map."""
    path = tmp_path / "s.csv"
    path.write_text("id,plan\nu_1,pro\n")
    with pytest.raises(ValueError, match="user_id and segment"):
        load_segment_map(path)
