"""Coding review queue: list, item page, resolution, code search."""

from __future__ import annotations

import logging
from urllib.parse import quote
from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince

from claimflow.models import utcnow
from claimflow.topics import CODING_RESOLUTIONS
from services.coder.icd10 import fiscal_year
from services.workbench import codes, review_rules
from services.workbench.access import CODING_REVIEW_READ, CODING_REVIEW_WRITE, requires, roles_of
from services.workbench.models import Encounter, Resolution, ReviewItem, ReviewStatus
from services.workbench.publish import PublishError, publish
from services.workbench.queue import queue_page

log = logging.getLogger("claimflow.workbench")
@requires(CODING_REVIEW_READ, "queue", action="list")
def queue(request):
    return render(request, "workbench/queue.html", queue_context(request.GET, request.user))


def queue_context(q, user) -> dict:
    """The queue page's context (keyset-paginated rows, filters, links); services.workbench.queue."""
    now = timezone.now()
    page = queue_page(q, now)
    params = q.copy()
    for k in ("after", "before", "n"):
        params.pop(k, None)
    href = reverse("review-item", args=["__ID__"])
    status_words = dict(ReviewStatus.choices)
    # the rows as plain strings, formatted here once (a template tag per cell costs more than the query)
    rows = [{"encounter_id": it.encounter_id, "href": href.replace("__ID__", quote(it.encounter_id, safe="")),
             "reason_codes": it.reason_codes, "payer_id": it.payer_id,
             "date_of_service": it.date_of_service.isoformat() if it.date_of_service else "",
             "routed_at": it.routed_at.isoformat(), "age": timesince(it.routed_at, now),
             "confidence": f"{it.confidence:.2f}", "status": status_words.get(it.status, it.status)} for it in page.rows]
    return {
        "page": page, "rows": rows, "now": now, "sort": page.sort, "status": q.get("status", ReviewStatus.OPEN),
        "statuses": ReviewStatus.choices, "reason_codes": sorted(review_rules.PLAIN_WORDS), "filters": q,
        "query": params.urlencode(), "can_resolve": bool(set(roles_of(user)) & set(CODING_REVIEW_WRITE)),
    }


def _item_context(request, item: ReviewItem, form_values: dict | None = None, errors: list[str] | None = None) -> dict:
    enc = Encounter.objects.filter(encounter_id=item.encounter_id).first()
    doc = enc.document if enc else None
    dos = enc.date_of_service if enc else item.date_of_service
    reasons = [{**r, "plain": review_rules.plain_words(r["code"], r["message"]),
                "candidates_described": [(c, codes.describe_icd10(c, dos) if dos and (r.get("subject") or "").startswith("diagnosis") else "")
                                         for c in r.get("candidates", [])]}
               for r in item.reasons]
    pdx, plines = review_rules.proposal_as_form(item.proposed_diagnoses, item.proposed_service_lines)
    if form_values is None:
        form_values = {f"dx_{i}": c for i, c in enumerate(pdx, start=1)}
        for n, ln in enumerate(plines, start=1):
            form_values.update({f"line_{n}_code": ln.code, f"line_{n}_modifiers": " ".join(ln.modifiers),
                                f"line_{n}_units": str(ln.units), f"line_{n}_pointers": ",".join(map(str, ln.pointers))})
    dx_rows = [(i, form_values.get(f"dx_{i}", "")) for i in range(1, max(len(pdx) + 2, 4) + 1)]
    line_rows = [(n, form_values.get(f"line_{n}_code", ""), form_values.get(f"line_{n}_modifiers", ""),
                  form_values.get(f"line_{n}_units", "1" if n <= len(plines) else ""), form_values.get(f"line_{n}_pointers", ""))
                 for n in range(1, min(review_rules.MAX_FORM_LINES, max(len(plines) + 1, 2)) + 1)]
    proposed_dx = [{**d, "description": codes.describe_icd10(d["code"], dos) if dos else ""} for d in item.proposed_diagnoses]
    return {
        "item": item, "encounter": doc, "dos": dos, "fy": fiscal_year(dos) if dos else None, "reasons": reasons,
        "proposed_dx": proposed_dx, "proposed_lines": item.proposed_service_lines, "dx_rows": dx_rows,
        "line_rows": line_rows, "reason_text": form_values.get("reason", ""), "errors": errors or [],
        "resolutions": Resolution.objects.filter(encounter_id=item.encounter_id).order_by("-resolved_at")[:5],
        "can_resolve": bool(set(roles_of(request.user)) & set(CODING_REVIEW_WRITE)),
    }


@requires(CODING_REVIEW_READ, "review_item", record_arg="encounter_id")
def item(request, encounter_id: str):
    it = get_object_or_404(ReviewItem, encounter_id=encounter_id)
    return render(request, "workbench/review_item.html", _item_context(request, it))


@requires(CODING_REVIEW_WRITE, "review_item", record_arg="encounter_id", action="submit")
def resolve(request, encounter_id: str):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    it = get_object_or_404(ReviewItem, encounter_id=encounter_id)
    if request.POST.get("token") != it.token or it.status != ReviewStatus.OPEN:
        messages.warning(request, f"Encounter {encounter_id} was already resolved or re-routed since you opened it: "
                                  "nothing was submitted. The page below shows its current state.")
        return redirect("review-item", encounter_id=encounter_id)
    dos = it.date_of_service
    if dos is None:
        return HttpResponseBadRequest("the encounter's documentation has not arrived yet; try again shortly")
    user, role = request.user.get_username(), ",".join(r for r in roles_of(request.user) if r in CODING_REVIEW_WRITE)
    form = review_rules.read_form(request.POST)
    decision = review_rules.decide(
        codes.reference(), encounter_id=it.encounter_id, encounter_version=it.encounter_version, routed_at=it.routed_at,
        dos=dos, proposal_diagnoses=it.proposed_diagnoses, proposal_lines=it.proposed_service_lines, form=form,
        send_back=request.POST.get("action") == "send_back", user=user, role=role, now=utcnow())
    if decision.resolution is None:
        ctx = _item_context(request, it, form_values=request.POST.dict(), errors=decision.errors)
        return render(request, "workbench/review_item.html", ctx, status=422)
    res = decision.resolution
    try:
        with transaction.atomic():
            locked = ReviewItem.objects.select_for_update().get(encounter_id=encounter_id)
            if locked.token != it.token or locked.status != ReviewStatus.OPEN:
                raise IntegrityError("resolved concurrently")
            Resolution.objects.create(
                resolution_id=res.resolution_id, encounter_id=res.encounter_id, encounter_version=res.encounter_version,
                action=res.action.value, resolved_by=user, resolved_role=role, resolved_at=res.resolved_at, reason=res.reason,
                before={"diagnoses": [d.model_dump(mode="json") for d in res.before_diagnoses],
                        "service_lines": [ln.model_dump(mode="json") for ln in res.before_service_lines]},
                after={"diagnoses": [d.model_dump(mode="json") for d in res.diagnoses],
                       "service_lines": [ln.model_dump(mode="json") for ln in res.service_lines]})
            publish(CODING_RESOLUTIONS, res.encounter_id, res)  # inside the transaction: no row without its event
            locked.status = ReviewStatus.QUERIED if res.action.value == "query_provider" else ReviewStatus.SUBMITTED
            locked.resolved_by, locked.resolution_id = user, res.resolution_id
            locked.save(update_fields=["status", "resolved_by", "resolution_id"])
    except IntegrityError:
        messages.warning(request, f"Encounter {encounter_id} was already resolved: nothing was submitted twice.")
        return redirect("review-item", encounter_id=encounter_id)
    except PublishError as exc:
        log.error("resolution for %s not published: %s", encounter_id, exc)
        messages.error(request, "The resolution could not be published (broker unavailable); nothing was submitted. Try again.")
        return redirect("review-item", encounter_id=encounter_id)
    log.info("resolution %s published for %s by %s (%s)", res.resolution_id, encounter_id, user, res.action.value)
    messages.success(request, f"Resolution for {encounter_id} submitted ({res.action.value.replace('_', ' ')}).")
    return redirect("queue")


@requires(CODING_REVIEW_READ, "code_search", action="search", phi=False)
def code_search(request):
    kind = request.GET.get("kind", "dx")
    query = request.GET.get("q", "")
    if not query:  # htmx sends the typing input under its own name (dx_3, line_2_code, ...)
        query = next((v for k, v in request.GET.items() if k not in ("kind", "fy") and v), "")
    try:
        fy = int(request.GET.get("fy", "0"))
    except ValueError:
        fy = 0
    if kind == "dx":
        hits = codes.search_icd10(query, codes.fy_date(fy)) if fy else []
    elif kind == "px":
        hits = codes.search_procedures(query)
    else:
        hits = codes.search_modifiers(query)
    return render(request, "workbench/code_options.html", {"hits": hits})
