"""First login: a user made by `claimflow users add` must change the one-time password
before any other page (Django's PasswordChangeView and password validators; the CLI and
the web app on the real SQLite read model, Django's test client). The page used to prove
"not redirected" is code search without a fiscal year: it shows no PHI, so nothing is
audited and no broker is needed."""

from __future__ import annotations

from click.testing import CliRunner

OTP = "one-time pass 4 first login"
NEW = "my own much longer passphrase 7"
PLAIN = "/codes/search/?kind=dx&fy=0&q=E11"


def _add(name: str, *extra: str) -> str:
    from services.workbench.cli import users_add

    out = CliRunner().invoke(users_add, [name, "--role", "coder", "--password-stdin", *extra], input=OTP + "\n")
    assert out.exit_code == 0, out.output
    return out.output


def _login(name: str, password: str = OTP):
    from django.test import Client

    c = Client()
    resp = c.post("/login/", {"username": name, "password": password, "next": "/"})
    assert resp.status_code == 302 and "/login/" not in resp["Location"], "logged in"
    return c


def test_a_new_user_must_change_the_password_before_any_other_page(db):
    from services.workbench.models import PasswordState

    assert "must be changed at first login" in _add("fl-alice")
    c = _login("fl-alice")
    for path in ("/", PLAIN, "/review/ENC-1/", "/claims/held/", "/audit/access/"):
        resp = c.get(path)
        assert resp.status_code == 302 and resp["Location"] == "/password/change/", path
    page = c.get("/password/change/")
    assert page.status_code == 200 and b'id="forced-change"' in page.content
    # Django's validators: too short / too common are refused, nothing changes
    resp = c.post("/password/change/", {"old_password": OTP, "new_password1": "short", "new_password2": "short"})
    assert resp.status_code == 200 and b"too short" in resp.content
    assert c.get(PLAIN)["Location"] == "/password/change/"
    resp = c.post("/password/change/", {"old_password": "wrong", "new_password1": NEW, "new_password2": NEW})
    assert resp.status_code == 200 and PasswordState.objects.get(user__username="fl-alice").must_change
    resp = c.post("/password/change/", {"old_password": OTP, "new_password1": NEW, "new_password2": NEW})
    assert resp.status_code == 302 and resp["Location"] == "/"
    state = PasswordState.objects.get(user__username="fl-alice")
    assert not state.must_change and state.changed_at is not None
    assert c.get(PLAIN).status_code == 200  # same session, now free to go
    assert _login("fl-alice", NEW).get(PLAIN).status_code == 200  # and at the next login


def test_a_reset_by_users_add_forces_a_change_again_and_ends_open_sessions(db):
    _add("fl-bob")
    c = _login("fl-bob")
    c.post("/password/change/", {"old_password": OTP, "new_password1": NEW, "new_password2": NEW})
    assert c.get(PLAIN).status_code == 200
    _add("fl-bob")  # the admin resets the password
    resp = c.get(PLAIN)
    assert resp.status_code == 302 and resp["Location"].startswith("/login/")  # the old session is over
    assert _login("fl-bob").get(PLAIN)["Location"] == "/password/change/"


def test_no_forced_change_is_explicit_and_anonymous_is_sent_to_login(db):
    out = _add("fl-carol", "--no-forced-change")
    assert "first login" not in out
    assert _login("fl-carol").get(PLAIN).status_code == 200
    from django.test import Client

    resp = Client().get("/password/change/")
    assert resp.status_code == 302 and resp["Location"].startswith("/login/")


def test_the_generated_password_is_printed_as_one_time(db):
    from services.workbench.cli import users_add

    out = CliRunner().invoke(users_add, ["fl-dave", "--role", "biller"])
    assert out.exit_code == 0 and "one-time password:" in out.output and "changed at first login" in out.output
