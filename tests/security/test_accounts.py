"""Login throttling, no user enumeration, password storage and change, sessions, CSRF."""

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.models import Session
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from portal.models import AuditEvent, LoginThrottle

LOGIN = "/accounts/login/"
ROOT = Path(__file__).resolve().parent.parent.parent
LIMIT = settings.SIGNET["LOGIN_FAILURES_BEFORE_LOCK"]


def attempt(username, password, *, ip="10.0.0.1", client=None):
    client = client or Client()
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


def unlock_slowdown():
    """Let the short waits of the slowed phase pass (the counters stay)."""
    LoginThrottle.objects.filter(failures__lt=LIMIT).update(locked_until=None)


def fail_until_locked(username, *, ip="10.0.0.1"):
    for _ in range(LIMIT):
        unlock_slowdown()
        response = attempt(username, "wrong-password-1", ip=ip)
    return response


# --- throttle -----------------------------------------------------------------------


def test_a_correct_login_works_and_lands_on_the_tenant(alice):
    response = attempt("alice", "alice-Passw0rd!")
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")


def test_failures_are_slowed_then_locked_with_a_clear_message(alice):
    statuses = []
    for _ in range(LIMIT - 1):
        unlock_slowdown()
        statuses.append(attempt("alice", "nope-nope-nope").status_code)
    assert statuses[0] == 200
    # Slowed: right after a failure in the slowed phase, the next try must wait a few seconds.
    response = attempt("alice", "alice-Passw0rd!")
    assert response.status_code == 429
    assert "Try again in" in response.content.decode()
    response = fail_until_locked("alice")
    assert response.status_code == 429
    text = response.content.decode()
    assert "Too many failed sign-in attempts" in text and "minutes" in text
    assert int(response["Retry-After"]) > 60
    # Locked: even the right password is refused, without being checked.
    response = attempt("alice", "alice-Passw0rd!")
    assert response.status_code == 429
    assert "_auth_user_id" not in response.client.session


def test_the_lock_ends_after_the_period(alice):
    fail_until_locked("alice")
    assert attempt("alice", "alice-Passw0rd!").status_code == 429
    LoginThrottle.objects.update(locked_until=timezone.now() - timedelta(seconds=1))
    assert attempt("alice", "alice-Passw0rd!").status_code == 302
    # Success clears the account's counter (not the address's).
    assert not LoginThrottle.objects.filter(scope="user:alice").exists()
    assert LoginThrottle.objects.filter(scope="ip:10.0.0.1").exists()


def test_a_lock_looks_the_same_for_an_existing_and_an_unknown_account(alice):
    known = fail_until_locked("alice", ip="10.0.0.1")
    unknown = fail_until_locked("nobody-here", ip="10.0.0.2")
    assert known.status_code == unknown.status_code == 429

    def message(response):
        return str(response.context["form"].non_field_errors())

    assert message(known) == message(unknown)


def test_wrong_password_and_unknown_user_get_the_same_answer(alice):
    a = attempt("alice", "wrong-password-1", ip="10.0.0.3")
    b = attempt("no-such-user", "wrong-password-1", ip="10.0.0.4")
    assert a.status_code == b.status_code == 200
    assert str(a.context["form"].non_field_errors()) == str(b.context["form"].non_field_errors())


def test_one_address_guessing_many_accounts_is_locked(alice):
    limit = settings.SIGNET["LOGIN_FAILURES_PER_ADDRESS"]
    for i in range(limit):
        unlock_slowdown()
        LoginThrottle.objects.filter(scope__startswith="ip:").update(locked_until=None)
        attempt(f"guess{i}", "wrong-password-1", ip="192.0.2.7")
    response = attempt("alice", "alice-Passw0rd!", ip="192.0.2.7")
    assert response.status_code == 429
    # Another address is not affected.
    assert attempt("alice", "alice-Passw0rd!", ip="192.0.2.8").status_code == 302


def test_ipv6_clients_are_counted_per_64(alice):
    limit = settings.SIGNET["LOGIN_FAILURES_PER_ADDRESS"]
    for i in range(limit):
        LoginThrottle.objects.update(locked_until=None)
        attempt(f"guess{i}", "wrong-password-1", ip=f"2001:db8:1:2::{i + 1:x}")
    assert attempt("alice", "alice-Passw0rd!", ip="2001:db8:1:2:ffff::1").status_code == 429


def test_throttle_keys_ignore_case_and_width(alice):
    fail_until_locked("ALICE")
    assert attempt("alice", "alice-Passw0rd!", ip="10.9.9.9").status_code == 429
    assert attempt("ａｌｉｃｅ", "alice-Passw0rd!", ip="10.9.9.8").status_code == 429  # fullwidth


def test_the_admin_login_is_throttled_too(alice, superuser):
    fail_until_locked("root")
    response = Client().post(
        "/admin/login/?next=/admin/", {"username": "root", "password": "root-Passw0rd!"}, REMOTE_ADDR="10.0.0.1"
    )
    assert response.status_code == 200  # the form again: not logged in
    assert "_auth_user_id" not in response.client.session


def test_failed_logins_are_audited_without_a_tenant(alice):
    attempt("alice", "wrong-password-1", ip="198.51.100.1")
    event = AuditEvent.objects.get(action="login.failed")
    assert event.tenant is None
    assert event.target == "alice"
    assert event.ip == "198.51.100.1"
    assert "wrong-password-1" not in str(event.details)


def test_huge_and_odd_login_input_is_refused_calmly(alice):
    for username, password in [
        ("", ""),
        ("a" * 10_000, "b" * 10_000),
        ("<script>alert(1)</script>", "x"),
        ("\x00", "x"),
    ]:
        response = attempt(username, password)
        assert response.status_code in (200, 429)
        assert "<script>alert(1)</script>" not in response.content.decode()


# --- the invite flow does not enumerate either --------------------------------------


def test_inviting_an_address_with_or_without_an_account_looks_the_same(alice_client, charlie):
    # charlie@example.com has an account (in another tenant); ghost@example.com has none.
    one = alice_client.post("/t/acme/members/invite", {"email": "charlie@example.com", "role": "viewer"})
    two = alice_client.post("/t/acme/members/invite", {"email": "ghost@example.com", "role": "viewer"})
    assert one.status_code == two.status_code == 200

    def shape(response, email):
        text = response.content.decode()
        start = text.index("<main")
        body = text[start:]
        import re

        body = re.sub(r"/accounts/invite/[A-Za-z0-9_-]+", "/accounts/invite/TOKEN", body)
        body = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", body)
        return body.replace(email, "EMAIL")

    assert shape(one, "charlie@example.com") == shape(two, "ghost@example.com")


# --- passwords ----------------------------------------------------------------------


def test_production_hashes_with_argon2():
    # The test settings put a fast hasher first; the production list starts with Argon2.
    assert settings.PASSWORD_HASHERS[1] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    with override_settings(PASSWORD_HASHERS=settings.PASSWORD_HASHERS[1:]):
        assert make_password("correct horse battery").startswith("argon2$argon2id$")


def test_settings_outside_tests_use_argon2_first():
    code = "from django.conf import settings; print(settings.PASSWORD_HASHERS[0])"
    env = {"DJANGO_SETTINGS_MODULE": "portal.settings", "DEBUG": "True", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_password_validators_are_on(alice_client):
    response = alice_client.post(
        "/accounts/password/",
        {"old_password": "alice-Passw0rd!", "new_password1": "12345678", "new_password2": "12345678"},
    )
    assert response.status_code == 200
    errors = str(response.context["form"].errors)
    assert "too short" in errors and "too common" in errors and "entirely numeric" in errors


# --- sessions -----------------------------------------------------------------------


def _logged_in_client(username, password):
    client = Client()
    assert client.post(LOGIN, {"username": username, "password": password}).status_code == 302
    return client


def test_password_change_logs_out_every_other_session(alice):
    laptop = _logged_in_client("alice", "alice-Passw0rd!")
    phone = _logged_in_client("alice", "alice-Passw0rd!")
    assert phone.get("/t/acme/audit/").status_code == 200
    response = laptop.post(
        "/accounts/password/",
        {
            "old_password": "alice-Passw0rd!",
            "new_password1": "a-much-Longer-passphrase-9",
            "new_password2": "a-much-Longer-passphrase-9",
        },
    )
    assert response.status_code == 302
    # The session that changed the password stays logged in (update_session_auth_hash) ...
    assert laptop.get("/t/acme/audit/").status_code == 200
    # ... every other one is logged out (its session auth hash no longer matches).
    response = phone.get("/t/acme/audit/")
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    assert AuditEvent.objects.filter(action="password.changed", target="alice").exists()


def test_the_session_key_changes_on_login_and_password_change(alice):
    client = Client()
    client.get(LOGIN)
    client.cookies["sessionid"] = "fixated-session-id-attack"
    client.post(LOGIN, {"username": "alice", "password": "alice-Passw0rd!"})
    first = client.session.session_key
    assert first != "fixated-session-id-attack"
    client.post(
        "/accounts/password/",
        {
            "old_password": "alice-Passw0rd!",
            "new_password1": "a-much-Longer-passphrase-9",
            "new_password2": "a-much-Longer-passphrase-9",
        },
    )
    assert client.session.session_key != first


def test_sessions_expire_after_inactivity(alice):
    assert settings.SESSION_SAVE_EVERY_REQUEST  # each request pushes the expiry: an inactivity timeout
    assert settings.SESSION_COOKIE_AGE <= 12 * 3600
    client = _logged_in_client("alice", "alice-Passw0rd!")
    assert client.get("/t/acme/audit/").status_code == 200
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get("/t/acme/audit/")
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)


def test_logout_is_post_only_and_ends_the_session(alice):
    client = _logged_in_client("alice", "alice-Passw0rd!")
    assert client.get("/accounts/logout/").status_code == 405
    client.post("/accounts/logout/")
    assert client.get("/t/acme/audit/").status_code == 302


# --- CSRF ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path,data",
    [
        ("/accounts/login/", {"username": "alice", "password": "alice-Passw0rd!"}),
        ("/accounts/password/", {"old_password": "x", "new_password1": "y", "new_password2": "y"}),
        ("/accounts/logout/", {}),
        ("/t/acme/members/invite", {"email": "x@example.com", "role": "viewer"}),
        ("/t/acme/members/", {"invitation": "1"}),
        ("/t/acme/api-keys/", {"name": "csrf"}),
        ("/t/acme/widgets/new", {"name": "csrf"}),
    ],
)
def test_state_changing_forms_need_the_csrf_token(alice, path, data):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    before = AuditEvent.objects.count()
    response = client.post(path, data)
    assert response.status_code == 403
    assert AuditEvent.objects.count() == before


def test_role_and_remove_forms_need_the_csrf_token(alice, bob):
    from portal.models import Membership

    membership = Membership.objects.get(user=bob)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(f"/t/acme/members/{membership.pk}/role", {"role": "admin"}).status_code == 403
    assert client.post(f"/t/acme/members/{membership.pk}/remove").status_code == 403
    membership.refresh_from_db()
    assert membership.role == "viewer"


def test_the_invite_acceptance_needs_the_csrf_token(alice):
    from portal.services import invitation_create

    _, token = invitation_create(tenant=alice.memberships.get().tenant, email="n@example.com", role="viewer")
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        f"/accounts/invite/{token}",
        {"username": "newbie", "password1": "a-Long-passphrase-1", "password2": "a-Long-passphrase-1"},
    )
    assert response.status_code == 403
