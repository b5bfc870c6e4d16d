"""Pseudonymization: configured personal-data fields replaced by a keyed HMAC before anything is stored.

Records must stay joinable (the same e-mail gives the same value in every file, region and retry) without
being readable back, so each configured field becomes ``hmac:`` + the hex HMAC-SHA256 of its value, keyed
with a secret only the processor reads. Without the key a token cannot be reversed or even confirmed by
guessing (a plain hash of a phone number could be found by trying every phone number).

What is hashed: a string value's UTF-8 text as it is, so whoever holds the key can find the records of a
known value (``printf %s "$email" | openssl dgst -sha256 -hmac "$key"``); any other value its canonical JSON
(sorted keys, no spaces, numbers in plain exact decimal: ``1E+3``, ``1000`` and ``1000.0`` are all ``1000``).
So a number and its decimal text give the same token: an ID sent as a number in one file and as text in
another still joins.

Paths are dotted field names (``properties.email``) per data type (``PSEUDONYMIZE_FIELDS``). A path that is
absent, null (no personal data there), or runs into a number or boolean, is left alone. A path that runs
into a list, or into a string that may hold the rest of the path (JSON text naming every remaining field, or
with escapes), replaces that list or string whole: it cannot say which element holds the field, and any may.

Rejected records keep their input in ``raw`` for diagnosis; with pseudonymization on that input must not
leak either. For every rejected record, whatever its claimed data type (a misspelt ``dataType`` is exactly
what gets rejected), the fields of *every* configured path are replaced in the input, which is then stored
re-serialized as JSON; the input is stored as received when no configured field is in it. An input that
cannot be parsed into a JSON object (broken JSON, an over-long line, a bare array) is withheld, replaced by
a marker, unless its text cannot hold a configured field (it does not name every field of any path and has
no escapes). Error messages about those fields (or their parents) have the values replaced as well.

The key is the secret's ``SecretString`` (or ``SecretBinary``), at least 32 bytes, read once per container
and kept for ``SECRET_MAX_AGE_S``. A secret that cannot be read (missing, denied, undecryptable, too short)
raises ``SecretUnavailable``, a ``RetryLater``: the file is retried and, after the queue's receive count, goes
to the DLQ through redrive. Nothing is ever stored un-pseudonymized, and nothing is skipped.

Imported only when ``PSEUDONYMIZE_FIELDS`` is set, so it costs nothing at a cold start without it.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import orjson

from handlers import clients, records
from handlers.failures import RetryLater
from handlers.items import DEFAULT_SHARDING, FileSource, ItemFactory, Key, Sharding

PREFIX = "hmac:"
SECRET_MAX_AGE_S = 3600.0  # a deleted or revoked secret stops processing within the hour
MIN_KEY_BYTES = 32
WITHHELD = "(withheld: pseudonymization is on and this input cannot be parsed to replace its fields)"
_MAX_PLAIN_EXPONENT = 200  # numbers beyond this are written in scientific form (no huge expansions)

Path = tuple[str, ...]


class SecretUnavailable(RetryLater):
    """The HMAC key could not be read: a transient failure, so the file is retried, never skipped."""

    def __init__(self, message: str) -> None:
        super().__init__("PSEUDONYMIZATION_KEY", message)


# (region, secret id) -> (key, time.monotonic() when read). Failures are never cached here.
_keys: dict[tuple[str, str], tuple[bytes, float]] = {}


def secret_key(region: str, secret_id: str) -> bytes:
    """The HMAC key from Secrets Manager, cached for ``SECRET_MAX_AGE_S``; ``SecretUnavailable`` if unreadable."""
    cached = _keys.get((region, secret_id))
    now = time.monotonic()
    if cached is not None and now - cached[1] < SECRET_MAX_AGE_S:
        return cached[0]
    try:
        response = clients.secretsmanager(region).get_secret_value(SecretId=secret_id)
    except Exception as exc:  # the SDK has retried throttling and timeouts already
        raise SecretUnavailable(f"reading secret {secret_id!r} failed: {_error(exc)}") from exc
    value = response.get("SecretString")
    key = value.encode() if isinstance(value, str) else bytes(response.get("SecretBinary") or b"")
    if len(key) < MIN_KEY_BYTES:
        raise SecretUnavailable(f"secret {secret_id!r} holds {len(key)} bytes; an HMAC key needs {MIN_KEY_BYTES}")
    _keys[(region, secret_id)] = (key, now)
    return key


def forget_keys() -> None:
    """Drop the cached keys (tests; a container never needs it)."""
    _keys.clear()


def _error(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return f"{code}: {exc}" if code else f"{type(exc).__name__}: {exc}"


class Pseudonymizer:
    """Replaces the configured fields of records (as item attributes) and of rejected inputs."""

    def __init__(self, key: bytes, fields: Mapping[str, Sequence[str]]) -> None:
        self._key = key
        self.paths: dict[str, tuple[Path, ...]] = {
            data_type: tuple(tuple(p.split(".")) for p in paths) for data_type, paths in fields.items() if paths
        }
        self.all_paths: tuple[Path, ...] = tuple(dict.fromkeys(p for ps in self.paths.values() for p in ps))

    def token(self, value: Any) -> str:
        """``hmac:`` + hex HMAC-SHA256 of a plain value (text as is, anything else as canonical JSON)."""
        data = value if type(value) is str else canonical(value)
        return PREFIX + hmac.digest(self._key, data.encode("utf-8", "surrogatepass"), "sha256").hex()

    # -- valid records: DynamoDB attribute values -------------------------------------------------------
    def attributes(self, data_type: str, attributes: dict[str, Any]) -> None:
        """Replace the configured fields of a valid record's attribute values, in place."""
        for path in self.paths.get(data_type, ()):
            container, last = attributes, len(path) - 1
            for depth, name in enumerate(path):
                node = container.get(name)
                if node is None or "NULL" in node:
                    break
                if depth == last:
                    container[name] = {"S": self.token(plain(node))}
                    break
                if "M" in node:
                    container = node["M"]
                    continue
                if "L" in node or ("S" in node and _may_hold(node["S"], path[depth + 1:])):
                    container[name] = {"S": self.token(plain(node))}
                break

    # -- rejected records: their input ------------------------------------------------------------------
    def raw(self, raw: Any) -> tuple[Any, list[Any]]:
        """A rejected record's input with every configured field replaced (for any data type), and the
        original values replaced (to scrub error messages). Unchanged if it holds none."""
        if isinstance(raw, (bytes, bytearray)):
            data = bytes(raw)
            try:
                value = records.parse_line(data)
            except (ValueError, RecursionError):
                return (WITHHELD if self._text_may_hold(data) else data), []
            if type(value) is not dict:
                return (WITHHELD if self._text_may_hold(data) else data), []
            replaced, found = self._plain(value)
            return (replaced if found else data), found
        if type(raw) is dict:
            replaced, found = self._plain(raw)
            return (replaced if found else raw), found
        text = raw if isinstance(raw, str) else None
        if text is not None and not self._text_may_hold(text.encode("utf-8", "surrogatepass")):
            return raw, []
        if text is None and not isinstance(raw, (list, tuple)):
            return raw, []  # a number, boolean or null holds no field
        return WITHHELD, []

    def _plain(self, record: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
        """A copy of ``record`` with every configured path replaced (copying only the dicts on the way)."""
        found: list[Any] = []
        out = dict(record)
        for path in self.all_paths:
            container, last = out, len(path) - 1
            for depth, name in enumerate(path):
                node = container.get(name)
                if node is None:
                    break
                if depth == last or type(node) is list or (
                    type(node) is str and _may_hold(node, path[depth + 1:])
                ):
                    found.append(node)
                    container[name] = self.token(node)
                    break
                if type(node) is not dict:
                    break
                container[name] = container = dict(node)
        return out, found

    def _text_may_hold(self, data: bytes) -> bool:
        """Whether unparsed JSON text could hold a configured field: it names every field of some path
        (a key is written literally unless escaped, so a backslash anywhere counts as maybe)."""
        if b"\\" in data:
            return True
        return any(all(name.encode() in data for name in path) for path in self.all_paths)

    def messages(self, errors: Iterable[tuple[str, str]], found: list[Any]) -> list[tuple[str, str]]:
        """The errors, with the replaced values written as their tokens in messages about a configured
        field, its parents or the whole record (validators quote the offending value)."""
        forms = sorted({(form, self.token(value)) for value in found for form in _forms(value) if form},
                       key=lambda pair: -len(pair[0]))
        out = []
        for field, message in errors:
            if self._related(field):
                for form, token in forms:
                    message = message.replace(form, token)
            out.append((field, message))
        return out

    def _related(self, field: str) -> bool:
        if not field:
            return True
        for path in self.all_paths:
            dotted = ".".join(path)
            if field == dotted or field.startswith((dotted + ".", dotted + "[")) or dotted.startswith(field + "."):
                return True
        return False


class PseudonymizingFactory(ItemFactory):
    """An ``ItemFactory`` whose items carry no configured field in clear, valid or rejected."""

    supports_fast_path = False  # valid records' attributes are pseudonymized here

    def __init__(self, source: FileSource, position_name: str, pseudonymizer: Pseudonymizer,
                 sharding: Sharding = DEFAULT_SHARDING) -> None:
        super().__init__(source, position_name, sharding)
        self.pseudonymizer = pseudonymizer

    def accepted(self, record: records.Accepted, position: int) -> tuple[Key, bytes]:
        self.pseudonymizer.attributes(record.data_type, record.attributes)
        return super().accepted(record, position)

    def rejected(
        self,
        errors: Sequence[tuple[str, str]],
        raw: Any,
        position: int,
        claimed_id: str | None = None,
        claimed_type: str | None = None,
    ) -> tuple[Key, bytes]:
        raw, found = self.pseudonymizer.raw(raw)
        if found:
            errors = self.pseudonymizer.messages(errors, found)
        return super().rejected(errors, raw, position, claimed_id, claimed_type)


def _may_hold(text: str, rest: Path) -> bool:
    """Whether a string met on the way could hold the rest of the path (as JSON text naming it)."""
    return "\\" in text or all(name in text for name in rest)


def _forms(value: Any) -> set[str]:
    """How a validator may have quoted ``value`` in a message."""
    forms = {repr(value)}
    if type(value) is str:
        forms.add(value)
    elif type(value) in (int, float, Decimal):
        forms |= {str(value), _number(value)}
    return forms


# -- canonical JSON -----------------------------------------------------------------------------------------
def plain(attribute: dict[str, Any]) -> Any:
    """A DynamoDB attribute value as the plain value it was built from (numbers as ``Decimal``)."""
    ((kind, inner),) = attribute.items()
    if kind == "S" or kind == "BOOL":
        return inner
    if kind == "N":
        return Decimal(inner)
    if kind == "NULL":
        return None
    if kind == "M":
        return {name: plain(value) for name, value in inner.items()}
    if kind == "L":
        return [plain(value) for value in inner]
    return str(inner)


def canonical(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, numbers in plain exact decimal, text unescaped."""
    kind = type(value)
    if kind is str:
        return orjson.dumps(value).decode()
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float or kind is Decimal:
        return _number(value)
    if kind is dict:
        items = sorted(((str(k), v) for k, v in value.items()), key=lambda item: item[0])
        return "{" + ",".join(canonical(k) + ":" + canonical(v) for k, v in items) + "}"
    if kind is list or kind is tuple:
        return "[" + ",".join(canonical(v) for v in value) + "]"
    return canonical(str(value))


def _number(value: int | float | Decimal) -> str:
    if type(value) is int:
        return str(value)
    number = Decimal(repr(value)) if type(value) is float else Decimal(value)
    if not number.is_finite():
        return str(number)
    sign, digits, exponent = number.as_tuple()
    exponent = int(exponent)
    while len(digits) > 1 and digits[-1] == 0:  # exact: no normalize(), which rounds to 28 digits
        digits, exponent = digits[:-1], exponent + 1
    if not any(digits):
        return "0"
    exact = Decimal((sign, digits, exponent))
    if -_MAX_PLAIN_EXPONENT <= exponent <= _MAX_PLAIN_EXPONENT:
        return format(exact, "f")
    return str(exact)
