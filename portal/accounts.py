"""Accounts: the throttled login and the password change.

Login failures are counted per username as typed and per client address
(portal.services, in the database so every worker sees them): slowed after a
few, then locked for a while. The throttle lives in the authentication backend,
so the Django admin's login is covered too; the portal's login form adds the
clear "try again in …" message. Nothing here may tell whether an account
exists: a lock is keyed on the typed name, and the messages are the same for
known and unknown names.

Changing the password logs out every other session: Django stores a hash of
the password in each session (get_session_auth_hash) and drops sessions whose
hash no longer matches; the view keeps only the current one
(update_session_auth_hash).
"""

import ipaddress

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache

from portal.services import audit_record, login_failure_record, login_lock_remaining, login_success_record


def client_ip(request) -> str | None:
    """The client's address: REMOTE_ADDR, or the address the trusted proxies saw (TRUSTED_PROXY_COUNT)."""
    if request is None:
        return None
    hops = settings.SIGNET.get("TRUSTED_PROXY_COUNT", 0)
    candidate = request.META.get("REMOTE_ADDR")
    if hops:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
        # Only the entries our own proxies appended can be trusted: count from the right.
        if len(forwarded) >= hops:
            candidate = forwarded[-hops]
    try:
        return str(ipaddress.ip_address((candidate or "").strip()))
    except ValueError:
        return None


def wait_text(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = (seconds + 59) // 60
    return f"about {minutes} minutes"


class ThrottledModelBackend(ModelBackend):
    """ModelBackend that refuses locked usernames/addresses and counts failures (every login form)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get("username")
        if username is None or password is None:
            return None
        ip = client_ip(request)
        if login_lock_remaining(username=username, ip=ip):
            # Stops authenticate() for every backend; the password is not even checked.
            raise PermissionDenied
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            login_failure_record(username=username, ip=ip)
        else:
            login_success_record(username=username)
        return user


class ThrottledAuthenticationForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "The username or password is not correct. Both fields are case-sensitive.",
        "locked": (
            "Too many failed sign-in attempts for this username or from your network. "
            "Try again in %(wait)s; until then every attempt is refused."
        ),
    }

    def _raise_if_locked(self):
        username = self.cleaned_data.get("username")
        remaining = login_lock_remaining(username=username, ip=client_ip(self.request))
        if remaining:
            self.lock_seconds = remaining
            raise ValidationError(self.error_messages["locked"], code="locked", params={"wait": wait_text(remaining)})

    def clean(self):
        self._raise_if_locked()
        try:
            return super().clean()
        except ValidationError:
            # This failure may just have engaged the lock: say so rather than "wrong password".
            self._raise_if_locked()
            raise


@method_decorator(never_cache, name="dispatch")
class LoginView(auth_views.LoginView):
    form_class = ThrottledAuthenticationForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        seconds = getattr(form, "lock_seconds", 0)
        if seconds:
            response.status_code = 429
            response["Retry-After"] = str(seconds)
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's view (which keeps this session via update_session_auth_hash), plus an audit event."""

    def form_valid(self, form):
        with transaction.atomic():
            response = super().form_valid(form)
            audit_record(
                tenant=None, actor=self.request.user, action="password.changed", target=self.request.user.username
            )
        return response
