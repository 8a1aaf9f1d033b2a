"""Fail closed: what each service needs before it may start, by security profile.

- ``dev`` (the default; ``make demo``, local runs) on loopback: a service may run without
  its tokens and secrets; it says so in a start-up warning, and HTTP calls pass as
  ``dev-anonymous``. The scrubber then uses the built-in development day-key secret.
- anything bound beyond loopback, and the ``prod`` profile everywhere: a service refuses to
  start (``InsecureConfiguration``, exit status 78) until it has what the table below lists.
  ``prod`` also refuses a PLAINTEXT Kafka connection.

Pure: reads only the settings object it is given."""

from __future__ import annotations

import ipaddress
import sys

from claimflow.settings import Settings

EX_CONFIG = 78  # sysexits.h: configuration error

# What each service needs outside dev, in the words of its settings.
NEEDS: dict[str, tuple[str, ...]] = {
    "coder": (),
    "scrubber": ("tokens", "day_key_secret"),
    "adjudicator": ("tokens",),
    "payer-sim": (),
    "payer-gateway": (),
    "fhir-gateway": ("tokens",),
}
WHAT = {
    "tokens": "an HTTP token table (CLAIMFLOW_HTTP_TOKENS or CLAIMFLOW_HTTP_TOKENS_FILE; `claimflow tokens new` makes entries)",
    "day_key_secret": "the day-key HMAC secret (CLAIMFLOW_SCRUBBER_DAY_KEY_SECRET or CLAIMFLOW_SCRUBBER_DAY_KEY_SECRET_FILE, at least 32 characters)",
    "kafka_security": "an encrypted, authenticated Kafka connection (CLAIMFLOW_KAFKA_SECURITY_PROTOCOL=SASL_SSL or SSL)",
    "no_placeholders": "real values instead of the REPLACE-ME placeholders of deploy/k8s/11-secrets.yaml",
}
MIN_SECRET_CHARS = 32
PLACEHOLDER = "REPLACE-ME"  # the stand-in values of deploy/k8s/11-secrets.yaml


class InsecureConfiguration(RuntimeError):
    pass


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name or 0.0.0.0-like wildcard: beyond loopback


def relaxed(settings: Settings) -> bool:
    """True when dev conveniences apply: the dev profile, bound to loopback only."""
    return settings.profile == "dev" and is_loopback(settings.http_host)


def _has_tokens(settings: Settings, service: str) -> bool:
    if settings.http_tokens or settings.http_tokens_file or settings.http_write_token:
        return True
    return service == "fhir-gateway" and settings.fhir_bearer_token is not None


def missing(service: str, settings: Settings) -> list[str]:
    """Keys of WHAT this service lacks (relevant only when not relaxed)."""
    out = []
    needs = NEEDS.get(service, ())
    if "tokens" in needs and not _has_tokens(settings, service):
        out.append("tokens")
    if "day_key_secret" in needs:
        secret = settings.day_key_secret()
        if secret is None or len(secret.get_secret_value()) < MIN_SECRET_CHARS:
            out.append("day_key_secret")
    if settings.profile == "prod" and settings.kafka_security_protocol not in ("SASL_SSL", "SSL"):
        out.append("kafka_security")
    placeholders = [s for s in (settings.http_tokens, settings.http_write_token, settings.fhir_bearer_token,
                                settings.kafka_password, settings.day_key_secret())
                    if s is not None and s.get_secret_value().startswith(PLACEHOLDER)]
    if placeholders:
        out.append("no_placeholders")
    return out


def check(service: str, settings: Settings) -> list[str]:
    """Start-up warnings for a relaxed (dev) run; raises InsecureConfiguration otherwise."""
    lacks = missing(service, settings)
    if relaxed(settings):
        warnings = [f"{service}: dev profile on {settings.http_host}: running without {WHAT[k]}" for k in lacks]
        if "tokens" in lacks:
            warnings.append(f"{service}: HTTP writes and PHI reads are NOT authenticated (principal 'dev-anonymous')")
        if settings.kafka_security_protocol == "PLAINTEXT":
            warnings.append(f"{service}: Kafka connection is PLAINTEXT (dev only)")
        return warnings
    if lacks:
        where = f"bound to {settings.http_host}" if not is_loopback(settings.http_host) else f"profile {settings.profile}"
        raise InsecureConfiguration(
            f"{service} refuses to start ({where}): it needs " + "; ".join(WHAT[k] for k in lacks)
            + ". Only the dev profile on a loopback address (CLAIMFLOW_PROFILE=dev, CLAIMFLOW_HTTP_HOST=127.0.0.1) runs without them.")
    return []


def checked(service: str, settings: Settings) -> list[str]:
    """The start-up check: its warnings, or exit with a clear message (status 78)."""
    try:
        return check(service, settings)
    except InsecureConfiguration as exc:
        print(f"claimflow: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(EX_CONFIG) from None


def warn(warnings: list[str]) -> None:
    for w in warnings:
        print(f"claimflow: WARNING: {w}", file=sys.stderr, flush=True)


def enforce(service: str, settings: Settings) -> None:
    """Run the check at start-up: print warnings, or exit with a clear message (status 78)."""
    warn(checked(service, settings))
