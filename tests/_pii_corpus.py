"""A corpus of realistic personal data and secrets placed in every field kind of every source.

`write_corpus(folder, user)` writes one input file per source (and per JSON-log preset, and
OTLP in JSON and protobuf), each with good records and malformed ones that land in
quarantine, and returns `(path, source, options)` for each. `NEEDLES` are the raw values a
scrubbed store must not contain anywhere, in every spelling the corpus uses.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

import orjson

FIXTURES = Path(__file__).parent / "fixtures"

EMAIL = "jane.corpus@example.org"
EMAIL_URL = "jane.corpus%40example.org"
PHONE = "+44 20 7946 0958"
PHONE_COMPACT = "+442079460958"
CARD = "4539 1488 0343 6467"
CARD_COMPACT = "4539148803436467"
IBAN = "GB82 WEST 1234 5698 7654 32"
IBAN_COMPACT = "GB82WEST12345698765432"
IP4 = "203.0.113.77"
IP6 = "2001:db8:85a3::8a2e:370:7334"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqYW5lY29ycHVzIn0.c2lnQ29ycHVzU2lnbmF0dXJl"
STRIPE = "sk_live_CorpusKey4eC39HqLyjWD"
AWS = "AKIACORPUSEXAMPLE777"
PASSWORD = "Hunter2CorpusPw"
SESSION = "SESScorpus7731abc"
COOKIE = "CookieCorpus987zyx"
BEARER = "opaqueCorpusBearer123456"
BASIC = "amFuZTpodW50ZXIyY29ycHVz"
NAME = "Corpusdoe"
STREET = "Corpusstreet"
REMOTE_USER = "jdoe_remote"
USER_ID = "jane-user-7781"
ANON_ID = "anon-jane-5521"
OTHER_USER = "other-user-3302"

NEEDLES: tuple[str, ...] = (
    "jane.corpus",
    "7946 0958",
    "2079460958",
    CARD,
    CARD_COMPACT,
    IBAN,
    IBAN_COMPACT,
    IP4,
    "8a2e:370:7334",
    JWT.split(".")[0] + "." + JWT.split(".")[1],
    "CorpusKey4eC39",
    AWS,
    PASSWORD,
    SESSION,
    COOKIE,
    BEARER,
    BASIC,
    NAME,
    STREET,
    REMOTE_USER,
    USER_ID,
    ANON_ID,
    OTHER_USER,
)

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
BOT_UA = f"Mozilla/5.0 (compatible; CorpusBot/1.0; +mailto:{EMAIL})"
STACK = (
    f"ValueError: cannot charge {CARD_COMPACT} for {EMAIL}\n"
    f'  File "/srv/shop/pay.py", line 88, in charge\n'
    f"    client.post('https://pay.example/v1?api_key={STRIPE}&iban={IBAN_COMPACT}')\n"
    f"  File \"/srv/shop/auth.py\", line 12, in login\n    check(password='{PASSWORD}', jwt='{JWT}')"
)


def _clf(epoch_s: float) -> str:
    t = time.gmtime(epoch_s)
    return f"{t.tm_mday:02d}/{MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


def _iso(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_s)) + f".{int(epoch_s * 1000) % 1000:03d}Z"


def _attr(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


def _lines(*items: Any) -> bytes:
    return b"\n".join(i if isinstance(i, bytes) else orjson.dumps(i) for i in items) + b"\n"


def _access_lines(t0: float, user: str) -> bytes:
    query = f"token={SESSION}&card={CARD_COMPACT}&sid={SESSION}&password={PASSWORD}&user={user}"
    referer = f"https://shop.example.com/reset?email={EMAIL_URL}&access_token={JWT}"
    good = [
        f'{IP4} - {REMOTE_USER} [{_clf(t0)}] "GET /account/{EMAIL}/orders?{query} HTTP/1.1" 200 512 '
        f'"{referer}" "{BOT_UA}"',
        f'{IP6} - - [{_clf(t0 + 1)}] "GET /call/{PHONE_COMPACT}?iban={IBAN_COMPACT}&key={AWS} HTTP/1.1" 404 10 '
        f'"https://{REMOTE_USER}:{PASSWORD}@shop.example.com/" "{UA}"',
    ]
    bad = f'{IP4} - {REMOTE_USER} [garbled "GET /x?password={PASSWORD}&email={EMAIL} HTTP/1.1" 200'
    return ("\n".join([*good, bad]) + "\n").encode()


def _json_logs(t0: float, user: str) -> dict[str, bytes]:
    generic = {
        "time": t0,
        "msg": f"login failed for {EMAIL} from {IP4} password: {PASSWORD} phone {PHONE}",
        "user_id": user,
        "client_ip": IP4,
        "headers": {"authorization": f"Bearer {BEARER}", "cookie": f"session={COOKIE}"},
        "card": CARD,
        "iban_number": IBAN,
        "api_key_used": STRIPE,
        "token_text": f"id token {JWT}",
        "contact": f"call {PHONE} or mail {EMAIL}",
        "stack": STACK,
        "peer": IP6,
    }
    ecs = {
        "@timestamp": _iso(t0 + 1),
        "log.level": "error",
        "message": f"GET /api/profile?email={EMAIL_URL}&access_token={JWT} failed",
        "service.name": "profile",
        "client.ip": IP4,
        "user.id": user,
        "user.email": EMAIL,
        "url.path": f"/api/users/{EMAIL}",
        "url.query": f"email={EMAIL_URL}&sid={SESSION}",
        "error": {"type": "ValueError", "message": f"bad card {CARD}", "stack_trace": STACK},
    }
    pino = {
        "level": 50,
        "time": int((t0 + 2) * 1000),
        "msg": f"request failed for card {CARD_COMPACT} iban {IBAN}",
        "req": {
            "method": "POST",
            "url": f"/api/pay?access_token={JWT}&password={PASSWORD}",
            "headers": {"authorization": f"Basic {BASIC}", "cookie": f"sid={COOKIE}"},
            "remoteAddress": IP4,
        },
        "user_id": user,
        "err": {"type": "Error", "message": f"declined {EMAIL}", "stack": STACK},
    }
    python = {
        "asctime": time.strftime("%Y-%m-%d %H:%M:%S,000", time.gmtime(t0 + 3)),
        "levelname": "ERROR",
        "name": "shop.auth",
        "message": f"card {CARD_COMPACT} declined for {EMAIL}, key {AWS}",
        "exc_info": STACK,
        "user_id": user,
    }
    broken = (
        f'{{"time": {t0}, "msg": "reset for {EMAIL} password={PASSWORD}", "user_id": "{user}", '
        f'"client_ip": "{IP4}", "card": "{CARD}"'
    ).encode()
    return {
        "generic": _lines(generic, broken),
        "ecs": _lines(ecs, broken),
        "pino": _lines(pino, broken),
        "python": _lines(python, broken),
    }


def _span(t0: float, user: str) -> dict[str, Any]:
    start = int(t0 * 1e9)
    attrs = [
        _attr("http.request.method", "GET"),
        _attr("url.path", f"/api/users/{EMAIL}"),
        _attr("url.query", f"email={EMAIL_URL}&token={SESSION}"),
        _attr("http.request.header.authorization", f"Bearer {BEARER}"),
        _attr("http.request.header.cookie", f"session={COOKIE}"),
        _attr("client.address", IP4),
        _attr("enduser.id", user),
        _attr("user.email", EMAIL),
        _attr("db.statement", f"SELECT * FROM users WHERE email = '{EMAIL}' AND card = '{CARD_COMPACT}'"),
        _attr("customer_id", user),
        {"key": "http.response.status_code", "value": {"intValue": "500"}},
    ]
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [_attr("service.name", "profile")]},
                "scopeSpans": [
                    {
                        "scope": {"name": "corpus"},
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": f"GET /api/users/{EMAIL}",
                                "kind": 2,
                                "startTimeUnixNano": str(start),
                                "endTimeUnixNano": str(start + 25_000_000),
                                "attributes": attrs,
                                "status": {"code": 2, "message": f"failed for {EMAIL} card {CARD}"},
                                "events": [
                                    {
                                        "timeUnixNano": str(start + 1000),
                                        "name": "exception",
                                        "attributes": [
                                            _attr("exception.type", "ValueError"),
                                            _attr("exception.message", f"bad iban {IBAN}"),
                                            _attr("exception.stacktrace", STACK),
                                        ],
                                    }
                                ],
                            }
                        ],
                    }
                ],
            }
        ]
    }


def _log_record(t0: float, user: str) -> dict[str, Any]:
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": [_attr("service.name", "auth")]},
                "scopeLogs": [
                    {
                        "scope": {"name": "corpus"},
                        "logRecords": [
                            {
                                "timeUnixNano": str(int(t0 * 1e9)),
                                "severityNumber": 17,
                                "severityText": "ERROR",
                                "body": {"stringValue": f"login {EMAIL} with {JWT} from {IP6} phone {PHONE}"},
                                "attributes": [
                                    _attr("enduser.id", user),
                                    _attr("client.address", IP4),
                                    _attr("exception.stacktrace", STACK),
                                    _attr("http.request.header.cookie", f"sid={COOKIE}"),
                                    _attr("payment.iban", IBAN),
                                ],
                            }
                        ],
                    }
                ],
            }
        ]
    }


def _client_events(t0: float, user: str) -> bytes:
    ms = t0 * 1000
    batch = {
        "v": 1,
        "sentAt": ms + 5000,
        "session": {"id": "s_corpus1", "anonymousId": ANON_ID, "userId": user},
        "context": {
            "app": {"name": "shop-web", "release": "web@1", "environment": "production"},
            "userAgent": UA,
            "page": {"url": f"https://shop.example/account?email={EMAIL_URL}&sid={SESSION}", "referrer": "-"},
        },
        "events": [
            {
                "type": "page_view",
                "id": "c1",
                "ts": ms,
                "page": {
                    "url": f"https://shop.example/u/{EMAIL}?token={SESSION}",
                    "referrer": f"https://mail.example/?to={EMAIL_URL}&password={PASSWORD}",
                    "title": f"Orders of {EMAIL}",
                },
            },
            {
                "type": "request",
                "id": "c2",
                "ts": ms + 100,
                "request": {
                    "method": "post",
                    "url": f"https://shop.example/api/pay?access_token={JWT}&card={CARD_COMPACT}",
                    "status": 500,
                    "duration": 120.0,
                    "initiator": "fetch",
                },
            },
            {
                "type": "error",
                "id": "c3",
                "ts": ms + 200,
                "error": {"type": "Error", "message": f"card {CARD} declined for {EMAIL}", "stack": STACK},
            },
            {
                "type": "track",
                "id": "c4",
                "ts": ms + 300,
                "event": "Checkout Failed",
                "properties": {
                    "email": EMAIL,
                    "card_number": CARD,
                    "note": f"call me at {PHONE}, iban {IBAN}",
                    "shipping_address": f"12 {STREET} Road",
                    "full_name": f"Jane {NAME}",
                    "api": STRIPE,
                },
            },
            {
                "type": "identify",
                "id": "c5",
                "ts": ms + 400,
                "userId": user,
                "traits": {"email": EMAIL, "name": f"Jane {NAME}", "phone": PHONE, "plan": "pro"},
            },
        ],
    }
    broken = (
        f'{{"v":1,"session":{{"id":"s_x","userId":"{user}","anonymousId":"{ANON_ID}"}},"events":[{{"email":"{EMAIL}"'
    )
    return _lines(batch, broken.encode())


def _segment(t0: float, user: str) -> bytes:
    ctx = {"ip": IP4, "userAgent": BOT_UA, "page": {"url": f"https://shop.example/?email={EMAIL_URL}"}}
    msgs = [
        {
            "type": "identify",
            "messageId": "sg1",
            "userId": user,
            "anonymousId": ANON_ID,
            "traits": {"email": EMAIL, "name": f"Jane {NAME}", "phone": PHONE, "plan": "pro"},
            "timestamp": _iso(t0),
            "context": ctx,
        },
        {
            "type": "track",
            "messageId": "sg2",
            "userId": user,
            "event": "Order Completed",
            "properties": {"contact_email": EMAIL, "billing_address": f"1 {STREET}", "card": CARD, "iban": IBAN},
            "timestamp": _iso(t0 + 1),
            "context": ctx,
        },
        {
            "type": "page",
            "messageId": "sg3",
            "userId": user,
            "properties": {"path": f"/u/{EMAIL}", "url": f"https://shop.example/u/{EMAIL}?sid={SESSION}"},
            "timestamp": _iso(t0 + 2),
            "context": ctx,
        },
    ]
    broken = f'{{"type":"identify","userId":"{user}","traits":{{"email":"{EMAIL}","phone":"{PHONE}"'
    return _lines({"batch": msgs}, broken.encode())


def _to_protobuf() -> Any:
    path = FIXTURES / "otlp_traces" / "protobuf" / "make_binpb.py"
    spec = importlib.util.spec_from_file_location("_make_binpb", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.to_protobuf


def write_corpus(folder: Path, user: str = USER_ID, t0: float | None = None) -> list[tuple[Path, str, dict[str, str]]]:
    """Write the corpus files for `user`; returns (path, source, options) per file."""
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.time() - 3600 if t0 is None else t0
    out: list[tuple[Path, str, dict[str, str]]] = []

    def put(name: str, data: bytes, source: str, **options: str) -> None:
        path = folder / name
        path.write_bytes(data)
        out.append((path, source, options))

    put("access.log", _access_lines(t0, user), "nginx")
    put("apache.log", _access_lines(t0 + 10, user), "apache", format="combined")
    for preset, data in _json_logs(t0 + 20, user).items():
        put(f"{preset}.ndjson", data, "json_log", preset=preset)
    to_protobuf = _to_protobuf()
    span, log = _span(t0 + 30, user), _log_record(t0 + 31, user)
    put("traces.json", _lines(span, b'{"resourceSpans": [{"broken": "' + EMAIL.encode() + b'"'), "otlp_traces")
    put("traces.binpb", to_protobuf(_span(t0 + 32, user)), "otlp_traces", encoding="protobuf")
    put(
        "bad_traces.binpb", b"\x0a\xff\x01" + EMAIL.encode() + CARD_COMPACT.encode(), "otlp_traces", encoding="protobuf"
    )
    put("logs.json", _lines(log, b'{"resourceLogs": [{"x": "' + JWT.encode() + b'"'), "otlp_logs")
    put("logs.binpb", to_protobuf(_log_record(t0 + 33, user)), "otlp_logs", encoding="protobuf")
    put("client.ndjson", _client_events(t0 + 40, user), "client_events")
    put("segment.ndjson", _segment(t0 + 50, user), "segment")
    return out


def http_bodies(user: str = USER_ID, t0: float | None = None) -> list[tuple[str, str, bytes]]:
    """(route, content type, body) for every HTTP ingest endpoint, good and malformed bodies alike."""
    t0 = time.time() - 3600 if t0 is None else t0
    client_good, client_bad = _client_events(t0, user).splitlines()
    segment_good, segment_bad = _segment(t0 + 10, user).splitlines()
    to_protobuf = _to_protobuf()
    json_type, proto = "application/json", "application/x-protobuf"
    return [
        ("/v1/client", json_type, client_good),
        ("/v1/client", json_type, client_bad),
        ("/v1/batch", json_type, segment_good),
        ("/v1/batch", json_type, segment_bad),
        ("/v1/traces", json_type, orjson.dumps(_span(t0 + 20, user))),
        ("/v1/traces", proto, to_protobuf(_span(t0 + 21, user))),
        ("/v1/traces", proto, b"\x0a\xff\x01" + EMAIL.encode()),
        ("/v1/logs", json_type, orjson.dumps(_log_record(t0 + 22, user))),
        ("/v1/logs", proto, to_protobuf(_log_record(t0 + 23, user))),
        ("/v1/json-logs", "application/x-ndjson", _json_logs(t0 + 30, user)["generic"]),
    ]
