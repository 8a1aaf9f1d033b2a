"""First login: a user created (or reset) by ``claimflow users add`` got a password someone
else saw (printed, or piped in by an admin), so before any other page they choose their own.

The flag is ``PasswordState.must_change``; it is copied into the session at login (Django's
``user_logged_in`` signal), so the middleware costs no query per request. A password reset
by ``users add`` changes the password hash, which ends the user's open sessions (Django's
session auth hash), so the next login reads the flag again. The change page is Django's
``PasswordChangeView`` (old password, new one twice, ``AUTH_PASSWORD_VALIDATORS``)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.password_validation import password_validators_help_texts
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.shortcuts import redirect
from django.urls import reverse, reverse_lazy
from django.utils import timezone

SESSION_KEY = "claimflow_must_change_password"


def must_change(user) -> bool:
    from services.workbench.models import PasswordState

    return PasswordState.objects.filter(user=user, must_change=True).exists()


@receiver(user_logged_in)
def _remember_at_login(sender, request, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_KEY] = must_change(user)


class ForcePasswordChangeMiddleware:
    """Every request of a user who must change their password goes to the change page
    (logging out and static files excepted)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            flag = request.session.get(SESSION_KEY)
            if flag is None:  # a session from before this check existed
                flag = request.session[SESSION_KEY] = must_change(user)
            allowed = (reverse("password-change"), reverse("logout"))
            if flag and request.path_info not in allowed and not request.path_info.startswith("/static/"):
                return redirect("password-change")
        return self.get_response(request)


class FirstLoginPasswordChangeView(auth_views.PasswordChangeView):
    template_name = "workbench/password_change.html"
    success_url = reverse_lazy("queue")

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["forced"] = bool(self.request.session.get(SESSION_KEY))
        ctx["password_help"] = password_validators_help_texts()
        return ctx

    def form_valid(self, form):
        from services.workbench.models import PasswordState

        response = super().form_valid(form)  # saves the new hash, keeps this session logged in
        PasswordState.objects.update_or_create(user=self.request.user,
                                               defaults={"must_change": False, "changed_at": timezone.now()})
        self.request.session[SESSION_KEY] = False
        messages.success(self.request, "Your password was changed.")
        return response
