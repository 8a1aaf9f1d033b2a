"""The access audit page (admins): who read which PHI record, by user or by record."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.shortcuts import render

from services.workbench.access import ACCESS_AUDIT, requires
from services.workbench.models import AccessLog


@requires(ACCESS_AUDIT, "access_log", action="list")
def access_log(request):
    rows = AccessLog.objects.all()
    if request.GET.get("user"):
        rows = rows.filter(user=request.GET["user"])
    if request.GET.get("record_id"):
        rows = rows.filter(record_id=request.GET["record_id"])
    if request.GET.get("record_type"):
        rows = rows.filter(record_type=request.GET["record_type"])
    page = Paginator(rows.order_by("-at", "event_id"), 100).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return render(request, "workbench/access_log.html", {"page": page, "filters": request.GET, "query": params.urlencode()})
