"""Held claims and the claim timeline."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render

from services.workbench.access import CLAIM_TIMELINE, HELD_CLAIMS, requires
from services.workbench.models import ClaimRecord, HeldClaimRecord, TimelineEvent


@requires(HELD_CLAIMS, "held_claim", action="list")
def held_list(request):
    held = HeldClaimRecord.objects.filter(open=True).order_by("held_at")
    page = Paginator(held, 25).get_page(request.GET.get("page"))
    claims = {c.claim_id: c for c in ClaimRecord.objects.filter(claim_id__in=[h.claim_id for h in page])}
    return render(request, "workbench/held_list.html", {"page": page, "claims": claims})


def _timeline(claim_id: str | None, encounter_id: str):
    q = Q(encounter_id=encounter_id)
    if claim_id:
        q |= Q(claim_id=claim_id)
    return TimelineEvent.objects.filter(q).order_by("at", "event_key")


@requires(CLAIM_TIMELINE, "claim", record_arg="claim_id")
def timeline(request, claim_id: str):
    claim = ClaimRecord.objects.filter(claim_id=claim_id).first()
    if claim is None:
        raise Http404("no such claim (yet)")
    return render(request, "workbench/timeline.html", {"claim": claim, "encounter_id": claim.encounter_id,
                                                      "events": _timeline(claim_id, claim.encounter_id)})


@requires(CLAIM_TIMELINE, "encounter", record_arg="encounter_id")
def encounter_timeline(request, encounter_id: str):
    claims = list(ClaimRecord.objects.filter(encounter_id=encounter_id).order_by("updated_at"))
    events = TimelineEvent.objects.filter(Q(encounter_id=encounter_id) | Q(claim_id__in=[c.claim_id for c in claims])).order_by("at", "event_key")
    return render(request, "workbench/timeline.html", {"claim": claims[-1] if claims else None, "encounter_id": encounter_id,
                                                      "events": events, "claims": claims})


@requires(HELD_CLAIMS, "held_claim", record_arg="claim_id")
def held_item(request, claim_id: str):
    held = get_object_or_404(HeldClaimRecord, claim_id=claim_id)
    claim = get_object_or_404(ClaimRecord, claim_id=claim_id)
    return render(request, "workbench/held_item.html", {"held": held, "claim": claim, "doc": claim.document,
                                                        "errors": [], "values": {}})


def _edits_from_form(post, doc) -> "ClaimEdits":
    from services.scrubber.corrections import ClaimEdits, LineEdit

    lines = []
    for line in doc["lines"]:
        n = line["line_number"]
        code = post.get(f"line_{n}_code", "").strip().upper()
        mods = [m for m in post.get(f"line_{n}_modifiers", "").replace(",", " ").split() if m]
        units = int(post.get(f"line_{n}_units") or line["units"])
        pointers = [int(p) for p in post.get(f"line_{n}_pointers", "").replace(",", " ").split() if p]
        edit = LineEdit(n, code=code if code and code != line["procedure_code"] else None,
                        modifiers=mods if mods != line["modifiers"] else None,
                        units=units if units != line["units"] else None,
                        diagnosis_pointers=pointers if pointers and pointers != line["diagnosis_pointers"] else None)
        if any(v is not None for v in (edit.code, edit.modifiers, edit.units, edit.diagnosis_pointers)):
            lines.append(edit)
    dx = {}
    for i, old in enumerate(doc["diagnoses"], start=1):
        new = post.get(f"dx_{i}", "").strip().upper()
        if new and new.replace(".", "") != old.replace(".", ""):
            dx[old] = new
    removed = [line["line_number"] for line in doc["lines"] if post.get(f"line_{line['line_number']}_remove")]
    pos = post.get("place_of_service", "").strip()
    return ClaimEdits(lines=lines, diagnosis_replacements=dx, remove_lines=removed,
                      place_of_service=pos if pos and pos != doc["place_of_service"] else None)


@requires(HELD_CLAIMS, "held_claim", record_arg="claim_id", action="submit")
def held_correct(request, claim_id: str):
    from django.contrib import messages
    from django.http import HttpResponseNotAllowed
    from pydantic import ValidationError

    from claimflow.models import Claim, utcnow
    from claimflow.topics import CLAIMS_CORRECTED
    from services.scrubber.corrections import CorrectionRefused, apply_edits, make_correction
    from services.workbench.publish import PublishError, publish

    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    held = get_object_or_404(HeldClaimRecord, claim_id=claim_id)
    claim = get_object_or_404(ClaimRecord, claim_id=claim_id)
    errors = []
    if not held.open or request.POST.get("held_at") != held.token:
        messages.warning(request, f"Claim {claim_id} was released or re-held since you opened it: nothing was submitted.")
        return redirect("held-item", claim_id=claim_id)
    reason = request.POST.get("reason", "").strip()
    if not reason:
        errors.append("Say why you corrected the claim (reason).")
    try:
        edits = _edits_from_form(request.POST, claim.document)
        if edits.empty:
            errors.append("Nothing was changed.")
        corrected = apply_edits(Claim.model_validate(claim.document), edits) if not errors else None
    except (ValueError, CorrectionRefused, ValidationError) as exc:
        errors.append(getattr(exc, "code", "InvalidEdit") + ": the edit does not make a valid claim"
                      if isinstance(exc, ValidationError) else str(exc))
        corrected = None
    user = request.user.get_username()
    if len(user) > 64:
        errors.append("user names longer than 64 characters cannot sign a correction")
    if errors:
        return render(request, "workbench/held_item.html", {"held": held, "claim": claim, "doc": claim.document,
                                                            "errors": errors, "values": request.POST}, status=422)
    correction = make_correction(corrected, corrected_by=user, reason=reason[:2000], now=utcnow())
    try:
        publish(CLAIMS_CORRECTED, claim_id, correction)
    except PublishError:
        messages.error(request, "The correction could not be published (broker unavailable); nothing was submitted.")
        return redirect("held-item", claim_id=claim_id)
    messages.success(request, f"Correction of {claim_id} submitted; the scrubber re-checks it.")
    return redirect("held-list")
