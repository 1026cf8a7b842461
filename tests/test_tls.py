"""`seamline serve` over real HTTPS with a self-signed certificate made in the test (openssl CLI)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from _access_home import prepare
from _server import free_port

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


def _self_signed(folder: Path, name: str = "server") -> tuple[Path, Path]:
    """A fresh key and a self-signed certificate for 127.0.0.1 and localhost."""
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def _serve(home: Path, port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "seamline.cli", "serve", "--home", str(home), "--port", str(port), *extra]


@pytest.fixture
def https_server(home: Path, tmp_path: Path) -> Iterator[tuple[str, Path, str]]:
    """`seamline serve --tls-cert --tls-key` on a free port; yields (https url, cert path, admin secret)."""
    cert, key = _self_signed(tmp_path)
    secrets = prepare(home)
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(_serve(home, port, "--tls-cert", str(cert), "--tls-key", str(key)), stdout=log, stderr=log)
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/healthz", verify=ssl.create_default_context(cafile=str(cert)), timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, "server did not come up over HTTPS"
                time.sleep(0.1)
        yield url, cert, secrets.admin
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


def test_serves_https_with_the_given_certificate(https_server: tuple[str, Path, str]) -> None:
    """Clients that trust the certificate get answers; plain HTTP and untrusting clients get none."""
    url, cert, admin = https_server
    trust = ssl.create_default_context(cafile=str(cert))
    r = httpx.get(url + "/api/whoami", headers={"authorization": f"Bearer {admin}"}, verify=trust)
    assert r.status_code == 200 and r.json()["role"] == "admin"
    assert r.http_version.startswith("HTTP/1")
    with pytest.raises(httpx.ConnectError):  # a client that does not trust the self-signed certificate
        httpx.get(url + "/healthz", timeout=5)
    with pytest.raises(httpx.TransportError):  # plain HTTP on the TLS port is not answered
        httpx.get(url.replace("https://", "http://") + "/healthz", timeout=5)


def test_login_cookie_is_secure_over_https(https_server: tuple[str, Path, str]) -> None:
    """Over HTTPS the UI's token cookie also carries the Secure flag."""
    url, cert, admin = https_server
    trust = ssl.create_default_context(cafile=str(cert))
    r = httpx.post(url + "/login", data={"token": admin, "next": "/"}, verify=trust)
    cookie = r.headers["set-cookie"].lower()
    assert r.status_code == 303 and "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie


def test_bad_tls_options_fail_clearly(home: Path, tmp_path: Path) -> None:
    """A missing key, a missing file or a key that does not match the certificate stop serve with exit code 2."""
    cert, _ = _self_signed(tmp_path, "one")
    _, other_key = _self_signed(tmp_path, "two")
    cases = [
        (["--tls-cert", str(cert)], "needs both"),
        (["--tls-cert", str(tmp_path / "nope.crt"), "--tls-key", str(other_key)], "does not exist"),
        (["--tls-cert", str(cert), "--tls-key", str(other_key)], "cannot use TLS certificate"),
    ]
    for extra, message in cases:
        out = subprocess.run(_serve(home, free_port(), *extra), capture_output=True, text=True, timeout=60)
        said = " ".join(out.stderr.split())  # rich wraps long paths over lines
        assert out.returncode == 2 and message in said, (extra, out.stderr)


def test_tls_from_settings(home: Path, tmp_path: Path) -> None:
    """SEAMLINE_TLS_CERT and SEAMLINE_TLS_KEY turn HTTPS on without flags."""
    import os

    cert, key = _self_signed(tmp_path)
    port = free_port()
    env = {**os.environ, "SEAMLINE_TLS_CERT": str(cert), "SEAMLINE_TLS_KEY": str(key)}
    proc = subprocess.Popen(_serve(home, port), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        trust = ssl.create_default_context(cafile=str(cert))
        for _ in range(300):
            try:
                assert httpx.get(f"https://127.0.0.1:{port}/healthz", verify=trust, timeout=1).status_code == 200
                break
            except httpx.TransportError:
                assert proc.poll() is None
                time.sleep(0.1)
        else:
            pytest.fail("no HTTPS answer from settings-configured TLS")
    finally:
        proc.terminate()
        proc.wait(20)
