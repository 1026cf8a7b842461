"""Error grouping: a fingerprint of a stack trace that survives redeploys, and its head line.

The fingerprint hashes the frames of a stack after removing what changes between builds and
occurrences of the same error — line and column numbers, hex addresses, ids, bundle hashes,
URL origins and query strings — so the same bug in two releases lands in one group while a
throw from a different place gets its own. Server sources and the client source share it.
Stacks are rare compared with log lines, so the regexes here stay off the per-line hot path.
"""

from __future__ import annotations

import hashlib
import re

_MAX_FRAMES = 40
_MAX_STACK_CHARS = 32_768

# Order matters: whole tokens (uuids, addresses, origins) go before the bare-number pass.
_NORMALISERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"), "<id>"),
    (re.compile(r"0x[0-9a-fA-F]+"), "<addr>"),
    (re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s)]*"), ""),  # scheme://host: differs per env
    (re.compile(r"\?[^\s:)]*"), ""),  # cache-busting query strings
    (re.compile(r"\bline \d+"), "line"),  # Python: File "x.py", line 42, in f
    (re.compile(r"(?::\d+)+(?=\D|$)"), ""),  # file.js:12:34, Bar.java:42, main.go:42
    (re.compile(r"\((\d+)\)"), "()"),  # PHP: /app/file.php(12)
    (re.compile(r"\b(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{6,}\b"), "<hash>"),  # bundle hashes
    (re.compile(r"\b\d+\b"), "<n>"),
    (re.compile(r"\s+"), " "),
)
_BARE_TYPE_SUFFIXES = ("Error", "Exception", "Interrupt", "Exit", "Warning", "Fault", "Panic")
_HEAD_TYPE = re.compile(r"^[A-Za-z_$][\w$.:<>\[\]-]*$")


def _is_frame(line: str) -> bool:
    """A line that names a code location (V8, Java, .NET, Python, Firefox/Safari, Go, Ruby, PHP)."""
    if line.startswith(("at ", 'File "')) or (line[0] == "#" and line[1:2].isdigit()):
        return True
    if ".go:" in line or ":in `" in line or ":in '" in line:
        return True
    at = line.find("@")
    return at != -1 and ":" in line[at:]


def normalise_frame(line: str) -> str:
    """One stack line with build- and occurrence-specific parts removed."""
    for pattern, replacement in _NORMALISERS:
        line = pattern.sub(replacement, line)
    return line.strip()


def frames(stack: str) -> list[str]:
    """The normalised frame lines of a stack, outermost first as written; at most 40."""
    out: list[str] = []
    previous = ""
    for raw in stack[:_MAX_STACK_CHARS].splitlines():
        line = raw.strip()
        if line and _is_frame(line):
            if ".go:" in line and previous and not _is_frame(previous):
                out.append(normalise_frame(previous))  # Go writes the function on the line above
            out.append(normalise_frame(line))
            if len(out) >= _MAX_FRAMES:
                break
        previous = line
    return out[:_MAX_FRAMES]


def fingerprint(stack: str | None, error_type: str | None = None, message: str | None = None) -> str | None:
    """Hex blake2b of the error type and normalised frames; without frames, of type and message.

    None when there is nothing to group by (no stack, type or message).
    """
    parts = frames(stack) if stack else []
    if not parts:
        # No recognisable frames: fall back to the whole (normalised) text, then to the message.
        text = stack if stack else message
        if text:
            parts = [normalise_frame(line) for line in text[:_MAX_STACK_CHARS].splitlines()[:_MAX_FRAMES]]
        if not parts and not error_type:
            return None
    digest = hashlib.blake2b(digest_size=8)
    digest.update((error_type or "").encode("utf-8", "replace"))
    for part in parts:
        digest.update(b"\n")
        digest.update(part.encode("utf-8", "replace"))
    return digest.hexdigest()


def exception_head(stack: str) -> tuple[str | None, str | None]:
    """(type, message) from a stack's head line: Python's last line, else the first line."""
    lines = [line for line in stack[:_MAX_STACK_CHARS].strip().splitlines() if line.strip()]
    if not lines:
        return None, None
    if lines[0].startswith("Traceback"):
        tail = [line for line in lines if not line[:1].isspace()]
        head = tail[-1] if tail else lines[-1]
    else:
        head = lines[0]
    head = head.strip()
    if _is_frame(head):
        return None, None
    kind, sep, message = head.partition(": ")
    if sep and _HEAD_TYPE.match(kind):
        return kind, message.strip() or None
    if not sep and _HEAD_TYPE.match(head) and head.endswith(_BARE_TYPE_SUFFIXES):
        return head, None  # a message-less exception, not a function name (Go stacks start so)
    return None, None
