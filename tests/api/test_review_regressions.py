"""Regressions for the findings of the security review: each test failed before its fix."""

import time

import pytest
from django.contrib.admin.sites import site as admin_site
from django.test import RequestFactory

from keys.models import KeyStatus, SigningKey
from keys.services import signing_key_register
from portal import sharedcache
from portal.models import ApiKey, Tenant
from widgets import config
from widgets.services import widget_update


def verify(api, widget, token):
    return api.post(f"/api/v1/widgets/{widget.public_id}/verify", {"signed_interaction_data": token})


# --- 1. the playground never echoes a pasted private key ---------------------------------


def test_damaged_begin_line_does_not_echo_the_key(alice_client, widget_a, ec_key):
    body_lines = ec_key.private_pem.strip().splitlines()[1:-1]
    damaged = "-----BEGIN PRIVATE KEY\n" + "\n".join(body_lines) + "\n-----END PRIVATE KEY-----\n"
    response = alice_client.post(
        "/t/acme/playground/",
        {"mode": "sign", "widget": widget_a.public_id, "payload": "[]", "private_key": damaged},
    )
    html = response.content.decode()
    assert response.status_code == 400
    for line in body_lines:
        for i in range(0, len(line) - 16, 16):
            assert line[i : i + 16] not in html


# --- 2. writes outside the services (Django admin) reach the verify cache -----------------


def test_admin_status_change_stops_verification(api_a, widget_a, registered_ec, ec_key, fields_payload):
    token = ec_key.sign(fields_payload, headers={"kid": "site-1"})
    assert verify(api_a, widget_a, token)[0] == 200  # the snapshot is warm
    key = SigningKey.objects.get(pk=registered_ec.pk)
    key.status = KeyStatus.REVOKED  # as a model save from the admin or a shell would
    key.save()
    status, body = verify(api_a, widget_a, token)
    assert status == 422 and body["error"]["code"] == "revoked_key"


def test_admin_revoke_action_uses_the_service(admin_user, api_a, widget_a, registered_ec, ec_key, fields_payload):
    from django.contrib.messages.storage.fallback import FallbackStorage

    token = ec_key.sign(fields_payload, headers={"kid": "site-1"})
    assert verify(api_a, widget_a, token)[0] == 200
    request = RequestFactory().post("/admin/keys/signingkey/")
    request.user = admin_user
    request.session = {}
    request._messages = FallbackStorage(request)
    model_admin = admin_site._registry[SigningKey]
    model_admin.revoke_keys(request, SigningKey.objects.filter(pk=registered_ec.pk))
    assert verify(api_a, widget_a, token)[1]["error"]["code"] == "revoked_key"
    assert "status" in model_admin.get_readonly_fields(request)


def test_deleted_api_key_and_tenant_are_refused_not_500(api_a, tenant_a):
    assert api_a.get("/api/v1/widgets")[0] == 200
    ApiKey.objects.filter(tenant=tenant_a).delete()
    assert api_a.get("/api/v1/widgets")[0] == 401


def test_tenant_deleted_while_key_cached(api_a, tenant_a):
    assert api_a.get("/api/v1/widgets")[0] == 200  # the key entry (with its tenant) is cached
    Tenant.objects.filter(pk=tenant_a.pk).delete()  # cascades to the API key: its entry is tombstoned
    status, body = api_a.get("/api/v1/widgets")
    assert status == 401 and body["error"]["code"] == "unauthenticated"


def test_renamed_tenant_reaches_cached_entries(api_a, tenant_a):
    from portal.api import _entry_key

    assert api_a.get("/api/v1/widgets")[0] == 200
    prefix = ApiKey.objects.get(tenant=tenant_a).prefix
    assert sharedcache.get(_entry_key(prefix))["tenant"] == ("acme", "Acme")
    tenant_a.name = "Acme Corp"
    tenant_a.save()
    assert sharedcache.get(_entry_key(prefix)) is None
    assert api_a.get("/api/v1/widgets")[0] == 200


# --- 3. races: a stale reader cannot resurrect a revoked key ------------------------------


def test_revoked_api_key_leaves_a_tombstone(api_a, tenant_a, django_capture_on_commit_callbacks):
    from portal.services import api_key_revoke

    assert api_a.get("/api/v1/widgets")[0] == 200
    key = ApiKey.objects.get(tenant=tenant_a)
    stale = {"id": key.id, "tenant_id": key.tenant_id, "key_hash": key.key_hash}
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=key)
    # A reader that loaded the row before the revocation tries to cache it now: it must not win.
    from portal.api import _entry_key

    assert sharedcache.add(_entry_key(key.prefix), stale, 60) is False
    assert api_a.get("/api/v1/widgets")[0] == 401


def test_local_snapshot_has_a_maximum_age(widget_a, registered_ec, monkeypatch):
    first = config.snapshot_for(tenant_id=widget_a.tenant_id, public_id=widget_a.public_id)
    assert config.snapshot_for(tenant_id=widget_a.tenant_id, public_id=widget_a.public_id) is first
    # Even with the shared version unchanged (a lost publish), the process re-reads after the maximum age.
    later = time.monotonic() + config.MAX_LOCAL_AGE_SECONDS + 1
    monkeypatch.setattr(config.time, "monotonic", lambda: later)
    assert config.snapshot_for(tenant_id=widget_a.tenant_id, public_id=widget_a.public_id) is not first


# --- 4. no 500 for client input -------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path, raw",
    [
        ("POST", "/api/v1/widgets", '{"name": "\\ud800"}'),
        ("PATCH", "/api/v1/widgets/{w}", '{"expected_issuer": "\\udc00x"}'),
        ("PATCH", "/api/v1/widgets/{w}", '{"required_claims": {"\\ud800": "string"}}'),
        ("POST", "/api/v1/widgets/{w}/verify", '{"unsigned_data": [{"label": "a", "data": "\\ud800"}]}'),
    ],
)
def test_lone_surrogates_are_400(api_a, widget_a, method, path, raw):
    status, body = api_a.call(method, path.format(w=widget_a.public_id), raw=raw)
    assert status == 400 and body["error"]["code"] == "invalid_request" and body["error"]["field"] == "body"


def test_paired_surrogate_escapes_still_work(api_a):
    status, body = api_a.post("/api/v1/widgets", raw='{"name": "chat \\ud83d\\ude00"}')
    assert status == 201 and body["name"] == "chat 😀"


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-12:00", "2400-01-01T00:00:00Z"])
def test_far_future_expiry_is_400(api_a, widget_a, ec_key, value):
    status, body = api_a.post(
        f"/api/v1/widgets/{widget_a.public_id}/keys", {"public_key": ec_key.public_pem, "expires_at": value}
    )
    assert status == 400 and body["error"]["field"] == "expires_at"
    assert not SigningKey.objects.exists()


def test_deep_json_in_forms_is_not_500(alice_client, widget_a):
    deep = "[" * 30000 + "]" * 30000
    response = alice_client.post(
        "/t/acme/playground/",
        {"mode": "verify", "widget": widget_a.public_id, "token": "", "unsigned_data": deep},
    )
    assert response.status_code < 500
    response = alice_client.post(
        "/t/acme/playground/",
        {"mode": "sign", "widget": widget_a.public_id, "payload": deep, "action": "set-iat"},
    )
    assert response.status_code < 500


@pytest.mark.parametrize("label", ["a\x00b", "tab\there", "nl\n"])
def test_control_characters_in_unsigned_labels_are_refused(api_a, widget_a, label):
    status, body = api_a.post(
        f"/api/v1/widgets/{widget_a.public_id}/verify", {"unsigned_data": [{"label": label, "data": 1}]}
    )
    assert status == 400 and body["error"]["field"] == "unsigned_data[0].label"


# --- 5. test keys never vouch for a real visitor --------------------------------------------


def test_test_keys_verify_only_in_dry_runs(api_a, alice_client, widget_a, ec_key, fields_payload):
    signing_key_register(widget=widget_a, public_key=ec_key.public_pem, kid="play-1", is_test=True)
    token = ec_key.sign(fields_payload, headers={"kid": "play-1"})
    status, body = verify(api_a, widget_a, token)
    assert status == 422 and body["error"]["code"] == "revoked_key"
    assert "test key" in body["error"]["message"]
    # Without a kid too: the test key is not among the active keys tried.
    status, body = verify(api_a, widget_a, ec_key.sign(fields_payload))
    assert status == 422 and body["error"]["code"] == "revoked_key"
    # The playground's dry run accepts it, and says the API would not.
    response = alice_client.post(
        "/t/acme/playground/", {"mode": "verify", "widget": widget_a.public_id, "token": token}
    )
    html = response.content.decode()
    assert response.status_code == 200 and "Signed with a test key" in html


def test_monitor_mode_reports_test_keys_too(api_a, widget_a, ec_key, fields_payload):
    widget_update(widget=widget_a, changes={"enforcement": "monitor"})
    signing_key_register(widget=widget_a, public_key=ec_key.public_pem, kid="play-1", is_test=True)
    status, body = verify(api_a, widget_a, ec_key.sign(fields_payload, headers={"kid": "play-1"}))
    assert status == 200 and body["verified"] is False and body["would_reject"]["code"] == "revoked_key"


# --- 7. read-only members see no decrypted visitor data --------------------------------------


def test_viewer_cannot_decrypt_in_the_playground(bob_client, tenant_a, widget_a, registered_ec, ec_key, claims):
    from keys import platform

    platform.encryption_key_create(tenant=tenant_a)
    secret_name = "Visible Only To Developers"
    jwe = platform.encrypt_for_tenant(tenant_a, ec_key.sign(claims(name=secret_name), headers={"kid": "site-1"}))
    response = bob_client.post("/t/acme/playground/", {"mode": "verify", "widget": widget_a.public_id, "token": jwe})
    assert response.status_code == 403
    assert secret_name not in response.content.decode()
    response = bob_client.post("/t/acme/playground/", {"mode": "decode", "widget": widget_a.public_id, "token": jwe})
    assert secret_name not in response.content.decode()
