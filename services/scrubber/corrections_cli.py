"""``claimflow claims``: the billing staff's side of the correction loop.

    claimflow claims held                       held claims still waiting (no PHI: ids, rule ids)
    claimflow claims show CLAIM_ID              the held claim as JSON (to edit into a file)
    claimflow claims correct CLAIM_ID --by USER [--reason TEXT]
              [--file corrected.json]           a whole corrected claim, or quick edits:
              [--line N --code X --modifiers 25,59 --units 2 --charge 120.00 --pointers 1,2]
              [--remove-line N] [--dx OLD=NEW] [--pos 11] [--rendering-npi N] [--billing-npi N]

``correct`` publishes a ClaimCorrection to claims.corrected.v1; the scrubber re-scrubs it and
releases it to claims.v1 or holds it again (watch ``claimflow claims held``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from pydantic import ValidationError

from claimflow import topics
from claimflow.codec import Codec, DecodeError
from claimflow.models import Claim, HeldClaim, safe_errors, utcnow
from services.ops.params import MONEY, NPI


def _decode_all(topic, model, settings) -> list:
    from claimflow.kafkaio import read_topic

    codec = Codec()
    out = []
    for rec in read_topic(topic.name, settings, timeout=30.0):
        try:
            out.append(model.model_validate(codec.decode(rec.value, topic.value)))
        except (DecodeError, ValueError):
            continue  # poison on the topic is the consumers' business (DLQ), not the reader's
    return out


def waiting_held_claims(settings=None) -> dict[str, HeldClaim]:
    """Latest held version of every claim not (yet) released to claims.v1."""
    from claimflow.settings import get_settings

    settings = settings or get_settings()
    held: dict[str, HeldClaim] = {}
    for h in _decode_all(topics.CLAIMS_HELD, HeldClaim, settings):
        if h.claim_id not in held or h.held_at >= held[h.claim_id].held_at:
            held[h.claim_id] = h
    released = {c.claim_id for c in _decode_all(topics.CLAIMS, Claim, settings)}
    return {cid: h for cid, h in held.items() if cid not in released}


def _int_list(text: str | None) -> list[int] | None:
    return None if text is None else [int(x) for x in text.split(",") if x.strip()]


@click.group("claims")
def claims() -> None:
    """Work the held-claims queue: list, show and correct held claims."""


@claims.command("held")
@click.option("--limit", default=50, show_default=True)
def held_cmd(limit: int) -> None:
    """Held claims still waiting for a correction (ids, error rules; no patient data)."""
    waiting = waiting_held_claims()
    click.echo(f"{len(waiting)} held claim(s) waiting")
    for cid, h in sorted(waiting.items(), key=lambda kv: kv[1].held_at)[:limit]:
        errors = sorted({f.rule_id for f in h.claim.findings if f.severity.value == "error"})
        click.echo(f"{cid}  held {h.held_at:%Y-%m-%d %H:%M}  errors={h.error_count}  rules={','.join(errors)}")


@claims.command("show")
@click.argument("claim_id")
def show_cmd(claim_id: str) -> None:
    """Print the held claim as JSON, findings included (the data path: contains PHI).

    The operator is CLAIMFLOW_OPERATOR_ID (and CLAIMFLOW_OPERATOR_ROLE); the read is
    recorded on audit.access.v1 before anything is printed."""
    from claimflow.reach import ensure_reachable
    from claimflow.settings import get_settings

    settings = get_settings()
    ensure_reachable(settings)  # one line, exit 3, before anything else is said
    operator = operator_principal(settings)
    waiting = waiting_held_claims(settings)
    found = claim_id in waiting
    record_cli_access(settings, operator, "held_claim", claim_id, "claims show", found)
    if not found:
        raise click.ClickException(f"no held claim {claim_id} is waiting")
    click.echo(waiting[claim_id].claim.model_dump_json(indent=2))


def operator_principal(settings):
    """Who runs the CLI: CLAIMFLOW_OPERATOR_ID; required outside dev on loopback."""
    from claimflow.httpauth import Principal
    from claimflow.security import relaxed

    if settings.operator_id:
        return Principal(settings.operator_id, settings.operator_role)
    if relaxed(settings):
        click.echo("WARNING: CLAIMFLOW_OPERATOR_ID is not set; recording this read as 'dev-operator' (dev profile only)", err=True)
        return Principal("dev-operator", "dev")
    raise click.ClickException("set CLAIMFLOW_OPERATOR_ID (your staff user id): reads of PHI are recorded with who made them")


def record_cli_access(settings, operator, record_type: str, record_id: str, command: str, found: bool) -> None:
    from claimflow.audit import access_event
    from claimflow.models import AccessOutcome
    from claimflow.publish import publish_records

    event = access_event(operator, record_type, record_id, "export", "cli", command,
                         AccessOutcome.SERVED if found else AccessOutcome.NOT_FOUND)
    publish_records(topics.AUDIT_ACCESS, [event], "record_id", settings)


@claims.command("correct")
@click.argument("claim_id")
@click.option("--by", "corrected_by", help="your staff user id (default: CLAIMFLOW_OPERATOR_ID, which it must match when set)")
@click.option("--reason", default="", help="why (kept with the correction; never logged)")
@click.option("--file", "file_", type=click.Path(exists=True, dir_okay=False), help="the whole corrected claim as JSON")
@click.option("--line", type=int, help="line number the quick edits below apply to")
@click.option("--code", help="replacement procedure code for --line")
@click.option("--modifiers", help="replacement modifiers for --line, comma separated ('' clears)")
@click.option("--units", type=click.IntRange(min=1))
@click.option("--charge", type=MONEY)
@click.option("--pointers", help="diagnosis pointers for --line, e.g. 1,2")
@click.option("--remove-line", "remove_lines", type=int, multiple=True)
@click.option("--dx", "dx", multiple=True, help="replace a diagnosis: OLD=NEW (repeatable)")
@click.option("--pos", help="place of service")
@click.option("--rendering-npi", type=NPI)
@click.option("--billing-npi", type=NPI)
@click.option("--json", "as_json", is_flag=True, help="print the result as one JSON object (for scripts)")
def correct_cmd(claim_id, corrected_by, reason, file_, line, code, modifiers, units, charge, pointers, remove_lines, dx,
                pos, rendering_npi, billing_npi, as_json) -> None:
    """Correct a held claim and send it back to the scrubber."""
    from claimflow.kafkaio import producer
    from claimflow.settings import get_settings
    from services.scrubber import corrections as corr

    settings = get_settings()
    if settings.operator_id and corrected_by and corrected_by != settings.operator_id:
        raise click.ClickException(f"--by {corrected_by} is not the operator of this shell (CLAIMFLOW_OPERATOR_ID)")
    corrected_by = corrected_by or settings.operator_id
    if not corrected_by:
        raise click.ClickException("say who corrects: --by USER or CLAIMFLOW_OPERATOR_ID")
    if file_:
        claim = Claim.model_validate(json.loads(Path(file_).read_text()))
        if claim.claim_id != claim_id:
            raise click.ClickException(f"{file_} holds claim {claim.claim_id}, not {claim_id}")
    else:
        waiting = waiting_held_claims(settings)
        if claim_id not in waiting:
            raise click.ClickException(f"no held claim {claim_id} is waiting")
        claim = waiting[claim_id].claim
    line_fields = (code, modifiers, units, charge, pointers)
    if any(v is not None for v in line_fields) and line is None:
        raise click.ClickException("--code/--modifiers/--units/--charge/--pointers need --line N")
    edits = corr.ClaimEdits(
        lines=[corr.LineEdit(line, code=code, modifiers=None if modifiers is None else modifiers.split(","), units=units,
                             charge=None if charge is None else str(charge), diagnosis_pointers=_int_list(pointers))] if line is not None else [],
        diagnosis_replacements=dict(d.split("=", 1) for d in dx),
        remove_lines=list(remove_lines), place_of_service=pos, rendering_npi=rendering_npi, billing_npi=billing_npi,
    )
    if edits.empty and not file_:
        raise click.ClickException("nothing to correct: give --file or at least one edit")
    try:
        corrected = corr.apply_edits(claim, edits) if not edits.empty else claim
    except corr.CorrectionRefused as exc:
        raise click.ClickException(str(exc)) from None
    except ValidationError as exc:  # never the pydantic dump (it can quote the claim)
        raise click.ClickException(f"the corrected claim is not valid: {safe_errors(exc)}") from None
    except ValueError as exc:
        raise click.ClickException(f"the corrected claim is not valid: {exc}") from None
    correction = corr.make_correction(corrected, corrected_by, reason, utcnow())
    prod = producer(settings)
    try:
        value = Codec().encode(topics.CLAIMS_CORRECTED.value, correction.to_avro())
        prod.send(topics.CLAIMS_CORRECTED.name, key=claim_id.encode(), value=value).get(timeout=30)
    finally:
        prod.close()
    if as_json:
        click.echo(json.dumps({"correction_id": correction.correction_id, "claim_id": claim_id,
                               "total_charge": str(correction.claim.total_charge)}))
        return
    click.echo(f"correction {correction.correction_id} of claim {claim_id} sent (total charge {correction.claim.total_charge}, "
               f"{len(correction.claim.lines)} line(s)); the scrubber re-scrubs it and releases or holds it again: "
               f"see `claimflow claims held`")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(claims())
