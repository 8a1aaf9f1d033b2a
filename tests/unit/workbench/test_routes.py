"""Every route of the workbench checks a role, and an anonymous request never reaches a
view: it is sent to the login page (Django test client on the real SQLite read model; no
broker is needed because nothing is shown, so nothing is audited)."""

from __future__ import annotations

import pytest


def _routes():
    from services.workbench.site.urls import urlpatterns

    # login, logout and the password change (any logged-in user; tests/unit/workbench/test_first_login.py)
    return [p for p in urlpatterns if p.name not in ("login", "logout", "password-change")]


def test_every_route_declares_its_roles(db):
    from services.workbench.roles import ROLES

    for p in _routes():
        roles = getattr(p.callback, "claimflow_roles", None)
        assert roles and set(roles) <= set(ROLES), f"{p.name} has no role check"
    assert "biller" not in _routes_by_name()["review-resolve"].callback.claimflow_roles


def _routes_by_name():
    return {p.name: p for p in _routes()}


@pytest.mark.parametrize("path", ["/", "/review/ENC-1/", "/denials/", "/denials/WI1/", "/denials/WI1/packets/ab/", "/codes/search/?kind=dx&fy=2026&q=E11", "/claims/held/",
                                  "/claims/held/CF1/", "/claims/CF1/", "/encounters/ENC-1/timeline/", "/audit/access/"])
def test_anonymous_is_sent_to_login(db, path):
    from django.test import Client

    resp = Client().get(path)
    assert resp.status_code == 302 and resp["Location"].startswith("/login/?next=")


def test_post_without_csrf_token_is_refused(db):
    from django.test import Client

    resp = Client(enforce_csrf_checks=True).post("/login/", {"username": "x", "password": "y"})
    assert resp.status_code == 403


def test_vendored_htmx_is_served_by_the_app(db):
    from django.test import Client

    page = Client().get("/login/").content.decode()
    assert "/static/django_htmx/htmx" in page and "https://" not in page  # no CDN
