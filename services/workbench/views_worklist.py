"""The denial worklist: list (sorted by priority, filtered, bulk assign), the item page (claim,
835 lines with CARC/RARC descriptions, guardrail rule, the payer's appeal level, deadline and
address, similar past appeals), the appeal letter PDF, and the actions, published as events
on appeals.actions.v1 (and appeals.outcomes.v1 for an outcome entered by hand)."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import date
from decimal import Decimal
from functools import lru_cache

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from claimflow.models import AppealActionKind, DenialWorkItem, FilingMethod, utcnow
from claimflow.topics import APPEAL_ACTIONS, APPEAL_OUTCOMES
from services.workbench import projection_denials as denials
from services.workbench import worklist_rules as rules
from services.workbench.access import DENIALS, requires, roles_of
from services.workbench.models import (
    AppealOutcomeRecord, AppealPacketFile, ClaimRecord, RemittanceRecord, WorkAction, WorkItem, WorkStatus,
)
from services.workbench.publish import PublishError, publish

log = logging.getLogger("claimflow.workbench")
KINDS = ("appeal", "corrected_claim", "verify_duplicate", "rebill_other_payer", "write_off_approval", "manual_review", "underpayment")
OUTCOME_HOWS = ("overturned", "partially_overturned", "upheld")


@lru_cache(maxsize=1)
def code_lists():
    from services.adjudicator.reference import load_code_lists
    from services.workbench.config import current

    s = current()
    return load_code_lists(imported_dir=s.adjudicator_refdata_dir or s.scrubber_refdata_dir)


def _limit() -> Decimal:
    from services.workbench.config import current

    return Decimal(str(current().adjudicator_write_off_limit))


def _actor(request) -> rules.Actor:
    return rules.Actor(request.user.get_username(), tuple(r for r in roles_of(request.user) if r in DENIALS))


def _workers() -> list[str]:
    return list(get_user_model().objects.filter(groups__name__in=DENIALS, is_active=True).distinct()
                .order_by("username").values_list("username", flat=True))


@requires(DENIALS, "worklist", action="list")
def worklist(request):
    q, today = request.GET, date.today()
    sort = rules.sort_key(q)
    items = rules.filter_worklist(WorkItem.objects.all(), q, today).order_by(*rules.SORTS[sort][1]).only(
        "work_item_id", "kind", "sub_kind", "claim_id", "payer_id", "carc_group", "carc_code", "reason_codes", "deadline",
        "recoverable_amount", "overturn_likelihood", "priority_score", "status", "assignee", "appeal_level", "rule_id")
    page = Paginator(items, rules.PAGE_SIZE).get_page(q.get("page"))
    rows = [(it, rules.days_left(it.deadline, today)) for it in page]
    params = q.copy()
    params.pop("page", None)
    sort_params = params.copy()
    sort_params.pop("sort", None)
    return render(request, "workbench/worklist.html", {
        "page": page, "rows": rows, "sort": sort, "sorts": [(k, v[0]) for k, v in rules.SORTS.items()], "filters": q,
        "kinds": KINDS, "buckets": list(rules.BUCKETS) + ["none"], "query": params.urlencode(), "sort_query": sort_params.urlencode(),
        "payers": WorkItem.objects.order_by("payer_id").values_list("payer_id", flat=True).distinct(),
        "workers": _workers(), "me": request.user.get_username(),
    })


def _remit_lines(claim_id: str) -> list[dict]:
    codes = code_lists()
    out = []
    for r in RemittanceRecord.objects.filter(claim_id=claim_id).order_by("received_at"):
        doc = r.document
        lines = []
        for ln in doc.get("service_lines", []):
            adjs = [{"code": f"{a['group_code']}-{a['reason_code']}", "amount": a["amount"],
                     "text": (codes.carc_info(a["reason_code"]).text if codes.carc_info(a["reason_code"]) else "not in the reference list")}
                    for a in ln.get("adjustments", [])]
            remarks = [{"code": c, "text": codes.rarc.get(c, "not in the reference list")} for c in ln.get("remark_codes", [])]
            lines.append({**ln, "cas": adjs, "remarks": remarks})
        claim_adjs = [{"code": f"{a['group_code']}-{a['reason_code']}", "amount": a["amount"],
                       "text": (codes.carc_info(a["reason_code"]).text if codes.carc_info(a["reason_code"]) else "not in the reference list")}
                      for a in doc.get("claim_adjustments", [])]
        out.append({"rec": r, "lines": lines, "claim_adjs": claim_adjs,
                    "remarks": [{"code": c, "text": codes.rarc.get(c, "")} for c in doc.get("remark_codes", [])]})
    return out


def _similar(it: WorkItem) -> tuple[list[WorkItem], dict]:
    """Past appeals of the same payer and CARC that the payer decided, and their tally."""
    past = list(WorkItem.objects.filter(payer_id=it.payer_id, carc_code=it.carc_code, closed_how__in=OUTCOME_HOWS)
                .exclude(work_item_id=it.work_item_id).order_by("-closed_at")[:10]) if it.carc_code else []
    tally = Counter(WorkItem.objects.filter(payer_id=it.payer_id, carc_code=it.carc_code, closed_how__in=OUTCOME_HOWS)
                    .exclude(work_item_id=it.work_item_id).values_list("closed_how", flat=True)) if it.carc_code else Counter()
    return past, dict(tally)


def _context(request, it: WorkItem, errors: list[str] | None = None, argument: str = "") -> dict:
    from services.adjudicator.letters import FAMILY_TEMPLATE, TEMPLATES
    from services.adjudicator.rules import RULE_TABLE_DOC

    claim = ClaimRecord.objects.filter(claim_id=it.claim_id).first()
    policy = denials.payer_book().policy(it.payer_id)
    past, tally = _similar(it)
    evidence = (it.document or {}).get("evidence", [])
    actions = WorkAction.objects.filter(work_item_id=it.work_item_id).order_by("occurred_at")
    packets = AppealPacketFile.objects.filter(work_item_id=it.work_item_id).order_by("-created_at").defer("pdf")
    latest = packets.first()
    mine = set(roles_of(request.user))
    return {
        "it": it, "claim": claim, "doc": claim.document if claim else None, "today": date.today(),
        "days_left": rules.days_left(it.deadline, date.today()), "policy": policy,
        "ladder": [s.level.value.replace("_", " ") + f" ({s.days} days)" for s in policy.appeal_levels] if hasattr(policy, "appeal_levels") else [],
        "rule_doc": RULE_TABLE_DOC.get(it.rule_id, ""), "evidence": evidence, "remits": _remit_lines(it.claim_id),
        "similar": past, "tally": tally, "tally_total": sum(tally.values()), "actions": actions, "packets": packets,
        "latest_packet": latest, "errors": errors or [], "argument": argument,
        "templates": sorted(TEMPLATES), "default_template": FAMILY_TEMPLATE.get(it.reason_family, ""),
        "offered": rules.KIND_ACTIONS.get(it.kind, ()), "methods": [m.value for m in FilingMethod], "workers": _workers(),
        "me": request.user.get_username(), "is_supervisor": "supervisor" in mine, "write_off_limit": _limit(),
        "next_item": WorkItem.objects.filter(work_item_id=it.next_item_id).first() if it.next_item_id else None,
        "previous": WorkItem.objects.filter(next_item_id=it.work_item_id).first(),
        "outcomes": AppealOutcomeRecord.objects.filter(work_item_id=it.work_item_id).order_by("received_at"),
    }


@requires(DENIALS, "work_item", record_arg="work_item_id")
def item(request, work_item_id: str):
    it = get_object_or_404(WorkItem, work_item_id=work_item_id)
    return render(request, "workbench/work_item.html", _context(request, it))


def _packet(it: WorkItem, claim: ClaimRecord | None, argument: str, template: str | None):
    from services.adjudicator.letters import LetterError, LetterLine, packet_from_work_item, render_appeal_letter

    if it.source != "denial":
        raise LetterError("an appeal letter is written for a denial; an underpayment is disputed with the payer's contract terms")
    doc = claim.document if claim else {}
    lines = tuple(LetterLine(ln["line_number"], ln["procedure_code"], tuple(ln.get("modifiers") or ()), Decimal(str(ln["charge"])))
                  for ln in doc.get("lines", []) if ln["line_number"] in ((it.document or {}).get("line_numbers") or [ln["line_number"]]))
    patient, cov, bp = doc.get("patient") or {}, doc.get("coverage") or {}, doc.get("billing_provider") or {}
    remit = RemittanceRecord.objects.filter(adjudication_id=it.adjudication_id).first()
    packet = packet_from_work_item(
        DenialWorkItem.model_validate(it.document), argument, codes=code_lists(), book=denials.payer_book(), claim_lines=lines,
        date_of_service=date.fromisoformat(doc["date_of_service"]) if doc.get("date_of_service") else None,
        billing_provider=bp.get("name"), billing_npi=bp.get("npi"),
        patient_name=" ".join(x for x in (patient.get("first_name"), patient.get("last_name")) if x) or None,
        member_id=cov.get("member_id"), payer_claim_control_number=remit.document.get("payer_claim_control_number") if remit else None,
        template=template or None)
    return render_appeal_letter(packet)


@requires(DENIALS, "work_item", record_arg="work_item_id", action="submit")
def letter(request, work_item_id: str):
    """Generate the appeal letter PDF from the page and store it (no event: the filing carries its hash)."""
    from services.adjudicator.letters import LetterError

    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    it = get_object_or_404(WorkItem, work_item_id=work_item_id)
    argument = request.POST.get("argument", "")
    try:
        out = _packet(it, ClaimRecord.objects.filter(claim_id=it.claim_id).first(), argument, request.POST.get("template"))
    except LetterError as exc:
        ctx = _context(request, it, errors=[f"The letter could not be generated: {exc}. Nothing was stored or published."],
                       argument=argument)
        return render(request, "workbench/work_item.html", ctx, status=422)
    AppealPacketFile.objects.get_or_create(sha256=out.sha256, defaults=dict(
        work_item_id=it.work_item_id, claim_id=it.claim_id, template=out.template, argument=argument, pdf=out.pdf,
        created_by=request.user.get_username(), created_at=utcnow()))
    messages.success(request, f"Appeal letter generated ({out.template.replace('_', ' ')} template, sha256 {out.sha256[:16]}…).")
    return redirect(reverse("work-item", args=[work_item_id]) + "#packet")


@requires(DENIALS, "appeal_packet", record_arg="work_item_id", action="download")
def packet(request, work_item_id: str, sha256: str):
    p = get_object_or_404(AppealPacketFile, sha256=sha256, work_item_id=work_item_id)
    resp = HttpResponse(bytes(p.pdf), content_type="application/pdf")
    resp["Content-Disposition"] = f'attachment; filename="appeal-{p.claim_id}-{sha256[:12]}.pdf"'
    return resp


def _record(request, it: WorkItem, action) -> bool:
    """Publish one action once: the row first (its id is the idempotency key), then the event,
    in one transaction; returns False when it was recorded before."""
    try:
        with transaction.atomic():
            WorkAction.objects.create(action_id=action.action_id, work_item_id=it.work_item_id, claim_id=it.claim_id,
                                      action=action.action.value, actor=action.actor, actor_role=action.actor_role,
                                      occurred_at=action.occurred_at, document=action.model_dump(mode="json"))
            publish(APPEAL_ACTIONS, it.claim_id, action)
            denials._apply_action(WorkItem.objects.select_for_update().get(pk=it.pk), action)
    except IntegrityError:
        return False
    log.info("appeal action %s (%s) published for %s by %s", action.action_id, action.action.value, it.work_item_id, action.actor)
    return True


@requires(DENIALS, "work_item", record_arg="work_item_id", action="submit")
def act(request, work_item_id: str):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    it = get_object_or_404(WorkItem, work_item_id=work_item_id)
    what = request.POST.get("what", "")
    back = redirect("work-item", work_item_id=work_item_id)
    if request.POST.get("token") != it.token:
        messages.warning(request, f"Work item {work_item_id} changed since you opened it ({it.get_status_display()}): "
                                  "nothing was recorded. The page below shows its current state.")
        return back
    now = utcnow()
    try:
        if what == "outcome":
            outcome = rules.build_outcome(it, request.POST, now)
        else:
            sha = request.POST.get("packet_sha256") or None
            if sha and not AppealPacketFile.objects.filter(sha256=sha, work_item_id=work_item_id).exists():
                raise rules.Refused("the appeal packet named on the form is not stored for this item; generate the letter again")
            action = rules.build_action(it, what, request.POST, _actor(request), now, _limit(), packet_sha256=sha)
    except (rules.Refused, ValueError) as exc:
        text = str(exc).splitlines()[-1] if not isinstance(exc, rules.Refused) else str(exc)
        ctx = _context(request, it, errors=[text])
        return render(request, "workbench/work_item.html", ctx, status=422)
    try:
        if what == "outcome":
            with transaction.atomic():
                if AppealOutcomeRecord.objects.filter(outcome_id=outcome.outcome_id).exists():
                    messages.warning(request, "This outcome was already recorded: nothing was recorded twice.")
                    return back
                publish(APPEAL_OUTCOMES, it.claim_id, outcome)
                denials.outcome(outcome)
            messages.success(request, f"Outcome {outcome.outcome.value.replace('_', ' ')} recorded for {work_item_id}.")
            return back
        if not _record(request, it, action):
            messages.warning(request, f"{action.action.value.replace('_', ' ').capitalize()} was already recorded for {work_item_id}: "
                                      "nothing was recorded twice.")
            return back
    except PublishError as exc:
        log.error("appeal action for %s not published: %s", work_item_id, exc)
        messages.error(request, "The action could not be published (broker unavailable); nothing was recorded. Try again.")
        return back
    late = " LATE, with its reason recorded" if action.action == AppealActionKind.FILED and it.deadline and action.filed_on > it.deadline else ""
    messages.success(request, f"{action.action.value.replace('_', ' ').capitalize()} recorded for {work_item_id}{late}.")
    return back


@requires(DENIALS, "worklist", action="submit", phi=False)
def bulk_assign(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    ids = request.POST.getlist("items")
    assignee = request.POST.get("assignee") or request.user.get_username()
    if assignee not in _workers():
        messages.error(request, f"{assignee} is not a biller or supervisor: nothing was assigned.")
        return redirect(reverse("worklist") + "?" + request.POST.get("query", ""))
    done = skipped = 0
    now, actor = utcnow(), _actor(request)
    for it in WorkItem.objects.filter(work_item_id__in=ids[: rules.PAGE_SIZE * 4]):
        try:
            action = rules.build_action(it, "assign", {"assignee": assignee}, actor, now, _limit())
            if it.assignee == assignee or not _record(request, it, action):
                skipped += 1
                continue
            done += 1
        except rules.Refused:
            skipped += 1
        except PublishError:
            messages.error(request, f"The broker is unavailable: {done} assigned, the rest not. Try again.")
            return redirect(reverse("worklist") + "?" + request.POST.get("query", ""))
    messages.success(request, f"{done} item(s) assigned to {assignee}" + (f"; {skipped} unchanged" if skipped else "") + ".")
    return redirect(reverse("worklist") + "?" + request.POST.get("query", ""))
