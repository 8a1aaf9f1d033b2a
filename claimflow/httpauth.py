"""Who is calling: per-user bearer tokens for every HTTP write and PHI read.

A token table maps the SHA-256 of each token to a principal (a staff user id or a service
account) and its role; it holds hashes only, so the table itself (a Secret) does not let
anyone call the services. Tokens are random 256-bit strings (``claimflow tokens new``), so a
plain SHA-256 is the right hash: it is a lookup of a high-entropy secret, not a password
that needs a slow hash. Comparison is constant-time (``hmac.compare_digest``) over every
entry.

Table lines: ``sha256:<64 hex> <principal> <role>``; blank lines and ``#`` comments are
ignored. Sources, all merged: ``CLAIMFLOW_HTTP_TOKENS`` (the table's text),
``CLAIMFLOW_HTTP_TOKENS_FILE`` (a file, e.g. a mounted Secret), and the legacy shared
``CLAIMFLOW_HTTP_WRITE_TOKEN`` / ``CLAIMFLOW_FHIR_BEARER_TOKEN`` (principals
``shared-token`` / ``ehr``).

In the ``dev`` profile on loopback with no table at all, requests pass as the principal
``dev-anonymous`` (role ``dev``); claimflow/security.py warns about it at start-up. As soon
as a table is configured, every protected route needs a valid token, in any profile."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from pydantic import SecretStr

DEV_PRINCIPAL_NAME = "dev-anonymous"
ANONYMOUS = "anonymous"

# Routes anyone may call: they carry no PHI (health, Prometheus metrics with bounded labels,
# Faust's fixed {"status": "OK"} index). Everything else must answer 401 without a token;
# tests/unit/test_route_inventory.py enforces it on every service.
PUBLIC_ROUTES: dict[str, str] = {
    "/healthz": "liveness/readiness: service name and 'ok'",
    "/metrics": "Prometheus exposition: counters and gauges with bounded labels, no ids",
    "/": "Faust's index page: a constant {'status': 'OK'}",
}


class TokenTableError(ValueError):
    pass


@dataclass(frozen=True)
class Principal:
    name: str
    role: str


DEV_PRINCIPAL = Principal(DEV_PRINCIPAL_NAME, "dev")


def token_hash(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def table_line(token: str, principal: str, role: str) -> str:
    for part, what in ((principal, "principal"), (role, "role")):
        if not part or any(c.isspace() for c in part):
            raise TokenTableError(f"{what} must be one word")
    return f"{token_hash(token)} {principal} {role}"


@dataclass(frozen=True)
class TokenTable:
    entries: tuple[tuple[bytes, Principal], ...] = ()

    @property
    def empty(self) -> bool:
        return not self.entries

    @classmethod
    def parse(cls, text: str, source: str = "token table") -> "TokenTable":
        entries = []
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 3 or not parts[0].startswith("sha256:") or len(parts[0]) != 71:
                # the line may hold a secret typed by mistake: report its number only
                raise TokenTableError(f"{source} line {n}: expected 'sha256:<64 hex> <principal> <role>'")
            try:
                digest = bytes.fromhex(parts[0][7:])
            except ValueError:
                raise TokenTableError(f"{source} line {n}: the hash is not hexadecimal") from None
            entries.append((digest, Principal(parts[1], parts[2])))
        return cls(tuple(entries))

    @classmethod
    def of(cls, *, text: SecretStr | None = None, file: Path | None = None,
           shared: Iterable[tuple[SecretStr | None, Principal]] = ()) -> "TokenTable":
        entries: list[tuple[bytes, Principal]] = []
        if text is not None:
            entries += cls.parse(text.get_secret_value(), "CLAIMFLOW_HTTP_TOKENS").entries
        if file is not None:
            try:
                content = Path(file).read_text()
            except OSError as exc:
                raise TokenTableError(f"token file {file} is not readable: {exc.strerror}") from None
            entries += cls.parse(content, f"token file {file}").entries
        for token, principal in shared:
            if token is not None:
                entries.append((hashlib.sha256(token.get_secret_value().encode()).digest(), principal))
        return cls(tuple(entries))

    def lookup(self, token: str) -> Principal | None:
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        found = None
        for expected, principal in self.entries:  # no early exit: time does not depend on the position
            if hmac.compare_digest(digest, expected) and found is None:
                found = principal
        return found


def table_from_settings(settings, *extra_shared: tuple[SecretStr | None, Principal]) -> TokenTable:
    return TokenTable.of(text=settings.http_tokens, file=settings.http_tokens_file,
                         shared=((settings.http_write_token, Principal("shared-token", "staff")), *extra_shared))


def bearer_token(headers: Mapping[str, str]) -> str | None:
    value = headers.get("Authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(headers: Mapping[str, str], table: TokenTable, relaxed: bool = False) -> Principal | None:
    """The principal the request's bearer token names; None when it names nobody.

    ``relaxed`` (dev profile on loopback) lets requests through as ``dev-anonymous`` only
    while no token table is configured at all."""
    token = bearer_token(headers)
    if token is not None:
        return table.lookup(token)
    if relaxed and table.empty:
        return DEV_PRINCIPAL
    return None


def bearer_ok(headers: Mapping[str, str], token: SecretStr | None) -> bool:
    """One shared token (the FHIR gateway's unit-level check): True when ``token`` is None
    or the Authorization header carries exactly it (constant-time comparison). Services
    decide whether None is acceptable (claimflow/security.py refuses it outside dev)."""
    if token is None:
        return True
    expected = ("Bearer " + token.get_secret_value()).encode()
    presented = headers.get("Authorization", "").encode("utf-8", "surrogateescape")
    return hmac.compare_digest(presented, expected)
