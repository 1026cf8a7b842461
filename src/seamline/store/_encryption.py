"""Encryption at rest: open the DuckDB file through an encrypted ATTACH when a key is configured.

DuckDB (>= 1.4) encrypts every block of the file, its write-ahead log and (when asked) its
temporary files with AES-GCM under a key derived from the one given to ATTACH; only the
main header, which says that the file is encrypted, stays readable. Writing needs a
cryptographically secure random source for the nonces, which DuckDB takes from OpenSSL in
its httpfs extension; its built-in fallback is refused unless the operator opts in with the
`encryption_builtin_crypto` setting (see docs/security.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from seamline.settings import Settings
from seamline.store.base import StoreError

ENV_VAR = "SEAMLINE_ENCRYPTION_KEY"
CATALOG = "seamline"  # the attached database's name; every connection USEs it
MIN_KEY_CHARS = 16


class NotEncrypted(StoreError):
    """A key is configured but the database file is plain (not yet `seamline store encrypt`ed)."""


def encryption_key(settings: Settings, environ: dict[str, str] | None = None) -> str | None:
    """The configured database key (SEAMLINE_ENCRYPTION_KEY, else the key file), or None."""
    env = os.environ if environ is None else environ
    key = env.get(ENV_VAR, "")
    where = ENV_VAR
    if not key and settings.encryption_key_file:
        path = settings.resolve_in_home(Path(settings.encryption_key_file))
        try:
            key = path.read_text().strip()
        except OSError as exc:
            raise StoreError(f"cannot read the encryption key file {path}: {exc.strerror or exc}") from exc
        where = str(path)
    if not key:
        return None
    if len(key) < MIN_KEY_CHARS:
        raise StoreError(f"the encryption key in {where} is shorter than {MIN_KEY_CHARS} characters")
    return key


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _enable_writes(con: duckdb.DuckDBPyConnection, allow_builtin: bool) -> None:
    installed = con.execute("SELECT installed FROM duckdb_extensions() WHERE extension_name = 'httpfs'").fetchone()
    if installed and installed[0]:
        con.execute("LOAD httpfs")  # OpenSSL: secure nonces, hardware AES
        return
    if not allow_builtin:
        raise StoreError(
            "writing an encrypted database needs DuckDB's httpfs extension (OpenSSL), which is not installed "
            "(run `INSTALL httpfs` in DuckDB); or set SEAMLINE_ENCRYPTION_BUILTIN_CRYPTO=1 to accept DuckDB's "
            "built-in crypto (see docs/security.md)"
        )
    con.execute("SET force_mbedtls_unsafe = 'true'")


def connect_encrypted(path: Path, key: str, read_only: bool, allow_builtin: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection whose default database is the encrypted file at `path` (created when new)."""
    con = duckdb.connect()  # an in-memory main database; the file itself is attached encrypted
    try:
        if not read_only:
            _enable_writes(con, allow_builtin)
        options = f"ENCRYPTION_KEY {_quote(key)}" + (", READ_ONLY" if read_only else "")
        con.execute(f"ATTACH {_quote(str(path))} AS {CATALOG} ({options})")
    except duckdb.InvalidInputException as exc:
        con.close()
        if "encryption key" in str(exc).lower():
            raise StoreError(f"cannot open {path}: the encryption key is wrong") from exc
        raise StoreError(f"cannot open {path}: {exc}") from exc
    except duckdb.CatalogException as exc:
        con.close()
        if "not encrypted" in str(exc):
            raise NotEncrypted(
                f"{path} is not encrypted but an encryption key is configured; encrypt it with "
                "`seamline store encrypt`, or unset the key"
            ) from exc
        raise StoreError(f"cannot open {path}: {exc}") from exc
    except BaseException:
        con.close()
        raise
    con.execute(f"USE {CATALOG}")
    # Spilled intermediate results hold table data too, so they are encrypted and kept beside the file.
    con.execute("SET temp_directory = ?", [str(path) + ".tmp"])
    con.execute("SET temp_file_encryption = true")
    return con


def unencrypted_hint(exc: Exception, path: Path) -> StoreError | None:
    """A clear error when a plain open hit an encrypted file, else None."""
    if "encrypted" in str(exc) and "without a key" in str(exc):
        return StoreError(
            f"{path} is encrypted: configure its key (SEAMLINE_ENCRYPTION_KEY or the encryption_key_file setting)"
        )
    return None


def encrypt_copy(source: Path, target: Path, key: str, allow_builtin: bool = False) -> None:
    """Copy a plain database into a new encrypted file (for `seamline store encrypt`)."""
    if target.exists():
        raise StoreError(f"{target} exists; choose a new file name")
    con = connect_encrypted(target, key, read_only=False, allow_builtin=allow_builtin)
    try:
        con.execute(f"ATTACH {_quote(str(source))} AS plain_source (READ_ONLY)")
        con.execute(f"COPY FROM DATABASE plain_source TO {CATALOG}")
        con.execute("DETACH plain_source")
        con.execute("CHECKPOINT")
    finally:
        con.close()
