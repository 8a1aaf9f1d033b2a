"""Held claims and the claim timeline."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404
from django.shortcuts import render

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
