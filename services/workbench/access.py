"""Roles and the access check every route goes through.

Each view declares the roles allowed on it and what record it shows. Anonymous -> login
page. Wrong role -> 403, and the attempt is still published as an AccessEvent (outcome
denied). An allowed read of PHI publishes an AccessEvent (outcome allowed) before the page
is served; if the audit cannot be published, the page is not served (503)."""

from __future__ import annotations

import logging
import uuid
from functools import wraps
from typing import Callable

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.urls import resolve

from claimflow.models import AccessEvent, AccessOutcome, utcnow
from claimflow.topics import AUDIT_ACCESS
from services.workbench.publish import PublishError, publish

log = logging.getLogger("claimflow.workbench")

from services.workbench.roles import (  # noqa: F401  (re-exported for the views)
    ACCESS_AUDIT, ADMIN, BILLER, CLAIM_TIMELINE, CODER, CODING_REVIEW_READ, CODING_REVIEW_WRITE, DENIALS, HELD_CLAIMS, ROLES,
    SUPERVISOR,
)

def roles_of(user) -> list[str]:
    if not user.is_authenticated:
        return []
    cached = getattr(user, "_claimflow_roles", None)
    if cached is None:
        cached = sorted(g.name for g in user.groups.all() if g.name in ROLES)
        user._claimflow_roles = cached
    return cached


def audit(request: HttpRequest, record_type: str, record_id: str, action: str, outcome: AccessOutcome) -> None:
    """Publish one AccessEvent (no PHI: who, role, record type/id, route) and keep a copy."""
    from services.workbench.models import AccessLog

    user = request.user.get_username() if request.user.is_authenticated else "anonymous"
    role = ",".join(roles_of(request.user)) or "none"
    try:
        route = resolve(request.path_info).url_name or "?"
    except Exception:  # Resolver404 on odd paths: the route name is informational
        route = "?"
    event = AccessEvent(event_id=uuid.uuid4().hex, occurred_at=utcnow(), user=user, role=role, record_type=record_type,
                        record_id=record_id or "*", action=action, outcome=outcome, service="workbench", route=route)
    publish(AUDIT_ACCESS, event.record_id, event)
    AccessLog.objects.create(event_id=event.event_id, at=event.occurred_at, user=user, role=role, record_type=record_type,
                             record_id=event.record_id, action=action, outcome=outcome.value, route=route)
    log.info("access user=%s role=%s %s %s/%s %s", user, role, action, record_type, event.record_id, outcome.value)


def requires(roles: tuple[str, ...], record_type: str, record_arg: str | None = None, action: str = "view",
             phi: bool = True) -> Callable:
    """Decorator for a view: role check, then access audit (when the view shows PHI)."""

    def deco(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            record_id = str(kwargs.get(record_arg, "*")) if record_arg else "*"
            act = "submit" if request.method == "POST" else action
            mine = set(roles_of(request.user))
            if not mine.intersection(roles):
                try:
                    audit(request, record_type, record_id, act, AccessOutcome.DENIED)
                except PublishError:
                    log.error("access audit could not be published (denied %s/%s)", record_type, record_id)
                return HttpResponseForbidden(f"Your role ({', '.join(sorted(mine)) or 'none'}) may not do this.")
            if phi:
                try:
                    audit(request, record_type, record_id, act, AccessOutcome.ALLOWED)
                except PublishError as exc:
                    log.error("access audit could not be published: %s", exc)
                    return HttpResponse("The access audit is unavailable, so records cannot be shown. Try again shortly.",
                                        status=503, content_type="text/plain")
            return view(request, *args, **kwargs)

        wrapper.claimflow_roles = roles
        return wrapper

    return deco
