"""The dashboard page: aggregate charts of the read model (SVG drawn on the server by
matplotlib), each with its figures as a table and a CSV download. Aggregates only (payer
ids, CARC groups and codes, kinds, counts, dollars): no PHI, so a view is not an access
event; a refused view (wrong role) is recorded like every refusal. Billers, supervisors and
admins see every chart; a coder sees the coding-automation chart only (their own work)."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import render

from services.workbench import charts, dashboard
from claimflow.models import AccessOutcome
from services.workbench.access import audit, log, requires, roles_of
from services.workbench.publish import PublishError
from services.workbench.roles import DASHBOARD


def _allowed(request) -> dict:
    mine = set(roles_of(request.user))
    return {key: build for key, (build, roles) in dashboard.registry().items() if mine & set(roles)}


def _figure(request, key: str):
    reg = dashboard.registry()
    if key not in reg:
        raise Http404("no such chart")
    build, roles = reg[key]
    if not set(roles_of(request.user)) & set(roles):
        try:  # a refusal is recorded like every refusal of a route
            audit(request, "dashboard", key, "view", AccessOutcome.DENIED)
        except PublishError:
            log.error("access audit could not be published (denied dashboard/%s)", key)
        return None
    return build()


@requires(DASHBOARD, "dashboard", action="list", phi=False)
def page(request):
    figures = [build() for build in _allowed(request).values()]
    return render(request, "workbench/dashboard.html", {"figures": figures, "hidden": len(dashboard.registry()) - len(figures)})


@requires(DASHBOARD, "dashboard", record_arg="key", phi=False)
def chart_svg(request, key: str):
    fig = _figure(request, key)
    if fig is None:
        return HttpResponse("Your role may not see this chart.", status=403, content_type="text/plain")
    resp = HttpResponse(charts.svg(fig), content_type="image/svg+xml")
    resp["Cache-Control"] = "private, max-age=30"
    return resp


@requires(DASHBOARD, "dashboard", record_arg="key", phi=False)
def chart_csv(request, key: str):
    fig = _figure(request, key)
    if fig is None:
        return HttpResponse("Your role may not see this chart.", status=403, content_type="text/plain")
    resp = HttpResponse(fig.csv(), content_type="text/csv; charset=utf-8")
    resp["Content-Disposition"] = f'attachment; filename="{key}.csv"'
    return resp
