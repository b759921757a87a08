"""Portal pages outside one widget: login, home, API keys, password change, error pages.

People (tests/conftest.py): alice owns tenant A (acme), bob is a viewer of A,
dave a developer of A, charlie an admin of tenant B (globex).
"""

import re

import pytest
from django.test import Client
from django.urls import reverse

from portal.models import ApiKey, AuditEvent, hash_api_key
from portal.services import api_key_create

pytestmark = pytest.mark.django_db


def api_keys_url(tenant="acme"):
    return reverse("portal:api_keys", kwargs={"tenant_slug": tenant})


def revoke_url(prefix, tenant="acme"):
    return reverse("portal:api_key_revoke", kwargs={"tenant_slug": tenant, "prefix": prefix})


# --- login, logout, home ------------------------------------------------------------


def test_login_page_renders(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    text = response.text
    assert '<label for="id_username">' in text and '<label for="id_password">' in text
    assert "csrfmiddlewaretoken" in text
    assert "style=" not in text and "<script>" not in text
    assert response["Content-Security-Policy"].startswith("default-src 'self'")


def test_login_with_password_lands_on_dashboard(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "alice-Passw0rd!"}, follow=True)
    assert response.redirect_chain[-1][0] == "/t/acme/"
    assert response.status_code == 200
    assert "Widgets" in response.text


def test_login_with_wrong_password_shows_error(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert 'class="errorlist nonfield"' in response.text
    assert "wrong" not in response.text.split("<form", 1)[1].split("</form>")[0].replace("password", "")


def test_home_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_home_without_tenant(client, django_user_model):
    user = django_user_model.objects.create_user("nobody", password="nobody-Passw0rd!")
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    assert "not a member of any tenant" in response.text


def test_home_remembers_last_tenant(alice, alice_client, tenant_b):
    from portal.models import Role
    from portal.services import membership_set

    membership_set(tenant=tenant_b, user=alice, role=Role.ADMIN)
    alice_client.get("/t/globex/")
    assert alice_client.get("/")["Location"] == "/t/globex/"


def test_logout_is_post_only_and_ends_session(alice_client):
    assert alice_client.get("/accounts/logout/").status_code == 405
    response = alice_client.post("/accounts/logout/")
    assert response.status_code == 302
    assert alice_client.get("/t/acme/").status_code == 302


def test_logged_out_template_renders():
    from django.template.loader import render_to_string

    assert "You are logged out" in render_to_string("registration/logged_out.html")


def test_password_change_pages(alice_client):
    page = alice_client.get("/accounts/password/")
    assert page.status_code == 200
    assert 'for="id_old_password"' in page.text and 'for="id_new_password2"' in page.text
    bad = alice_client.post("/accounts/password/", {"old_password": "nope", "new_password1": "x", "new_password2": "y"})
    assert bad.status_code == 200 and 'class="errorlist' in bad.text
    good = alice_client.post(
        "/accounts/password/",
        {"old_password": "alice-Passw0rd!", "new_password1": "Quiet-River-82", "new_password2": "Quiet-River-82"},
        follow=True,
    )
    assert "Password changed" in good.text


def test_password_change_needs_login(client):
    response = client.get("/accounts/password/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


# --- error pages ----------------------------------------------------------------------


def test_404_page_is_friendly(alice_client):
    response = alice_client.get("/t/acme/widgets/wgt_nope/")
    assert response.status_code == 404
    assert "Page not found" in response.text


def test_403_page_explains_the_role(bob_client):
    response = bob_client.post(api_keys_url(), {"name": "x"})
    assert response.status_code == 403
    assert "Admin role" in response.text


def test_500_template_is_standalone():
    from django.template.loader import render_to_string

    html = render_to_string("500.html")
    assert "Something went wrong" in html and "signet.css" in html


# --- API keys -----------------------------------------------------------------------------


def test_api_keys_login_required(client, tenant_a):
    for response in (client.get(api_keys_url()), client.post(api_keys_url(), {"name": "x"})):
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    response = client.post(revoke_url("abc"))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_api_keys_other_tenant_404(charlie_client, tenant_a):
    key, _ = api_key_create(tenant=tenant_a, name="acme backend")
    assert charlie_client.get(api_keys_url("acme")).status_code == 404
    assert charlie_client.post(api_keys_url("acme"), {"name": "x"}).status_code == 404
    assert charlie_client.post(revoke_url(key.prefix, "acme")).status_code == 404
    # Through charlie's own tenant, A's key does not exist.
    assert charlie_client.post(revoke_url(key.prefix, "globex")).status_code == 404
    key.refresh_from_db()
    assert key.is_active
    assert not ApiKey.objects.filter(tenant__slug="acme").exclude(pk=key.pk).exists()


def test_api_keys_list_shows_only_own_tenant(alice_client, tenant_a, tenant_b):
    mine, _ = api_key_create(tenant=tenant_a, name="acme backend")
    theirs, _ = api_key_create(tenant=tenant_b, name="globex backend")
    response = alice_client.get(api_keys_url())
    assert response.status_code == 200
    assert f"sgn_{mine.prefix}_" in response.text and "acme backend" in response.text
    assert theirs.prefix not in response.text and "globex backend" not in response.text


@pytest.mark.parametrize("client_name", ["bob_client", "dave_client"])
def test_api_keys_read_only_for_viewer_and_developer(request, tenant_a, client_name):
    client = request.getfixturevalue(client_name)
    key, _ = api_key_create(tenant=tenant_a, name="acme backend")
    page = client.get(api_keys_url())
    assert page.status_code == 200
    assert "acme backend" in page.text
    assert "Create API key" not in page.text
    assert revoke_url(key.prefix) not in page.text
    assert client.post(api_keys_url(), {"name": "sneaky"}).status_code == 403
    assert client.post(revoke_url(key.prefix)).status_code == 403
    assert ApiKey.objects.filter(tenant=tenant_a).count() == 1
    key.refresh_from_db()
    assert key.is_active


def test_api_key_created_shown_once_then_revoked(alice_client, tenant_a):
    response = alice_client.post(api_keys_url(), {"name": "chat-backend-prod"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    match = re.search(r"sgn_[0-9a-f]{12}_[A-Za-z0-9_\-]{43}", response.text)
    assert match, "the new key is on the page"
    raw = match.group(0)
    key = ApiKey.objects.get(tenant=tenant_a, name="chat-backend-prod")
    assert key.key_hash == hash_api_key(raw)
    assert "Copy your new API key now" in response.text
    assert 'data-copy-target="new-api-key"' in response.text

    # Shown once: the list page never shows it again.
    again = alice_client.get(api_keys_url())
    assert raw not in again.text
    assert f"sgn_{key.prefix}_…" in again.text

    # It works against the API until revoked.
    api = Client()
    assert api.get("/api/v1/widgets", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    revoked = alice_client.post(revoke_url(key.prefix), follow=True)
    assert "revoked" in revoked.text
    key.refresh_from_db()
    assert not key.is_active
    assert AuditEvent.objects.filter(action="api_key.revoked").exists()
    assert api.get("/api/v1/widgets", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401
    # Revoking twice is harmless.
    assert alice_client.post(revoke_url(key.prefix)).status_code == 302
    assert AuditEvent.objects.filter(action="api_key.revoked").count() == 1


def test_api_key_name_too_long_refused(alice_client, tenant_a):
    response = alice_client.post(api_keys_url(), {"name": "x" * 300})
    assert response.status_code == 400
    assert "at most 120 characters" in response.text
    assert 'aria-invalid="true"' in response.text
    assert not ApiKey.objects.filter(tenant=tenant_a).exists()


def test_api_key_revoke_is_post_only(alice_client, tenant_a):
    key, _ = api_key_create(tenant=tenant_a, name="k")
    assert alice_client.get(revoke_url(key.prefix)).status_code == 405
    key.refresh_from_db()
    assert key.is_active


def test_api_key_revoke_unknown_prefix_404(alice_client, tenant_a):
    assert alice_client.post(revoke_url("doesnotexist")).status_code == 404


def test_api_key_create_without_csrf_refused(alice, tenant_a):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(api_keys_url(), {"name": "x"}).status_code == 403
    assert not ApiKey.objects.filter(tenant=tenant_a).exists()


# --- navigation and tenant switcher -----------------------------------------------------


def test_nav_links_by_role(alice_client, bob_client):
    owner = alice_client.get("/t/acme/").text
    for href in ("/t/acme/", "/t/acme/playground/", "/t/acme/api-keys/", "/t/acme/members/", "/t/acme/audit/"):
        assert f'href="{href}"' in owner
    assert 'href="/t/acme/encryption-keys/"' in owner
    viewer = bob_client.get("/t/acme/").text
    assert 'href="/t/acme/members/"' not in viewer
    assert 'href="/t/acme/encryption-keys/"' not in viewer
    assert 'href="/t/acme/api-keys/"' in viewer


def test_switcher_only_lists_own_memberships(charlie_client, tenant_a):
    page = charlie_client.get("/t/globex/").text
    assert "Globex" in page
    assert "/t/acme/" not in page


# --- /favicon.ico ------------------------------------------------------------------------


def test_favicon_is_an_empty_answer_not_a_404(client):
    # Browsers ask for it on every site, the Django admin's pages included (they name no icon).
    response = client.get("/favicon.ico")
    assert response.status_code == 204 and response.content == b""
    assert "max-age=86400" in response["Cache-Control"]
    assert client.post("/favicon.ico").status_code == 405
