"""The widget and allowlist endpoints of API.md, with the error envelope."""

import pytest

from portal.models import AuditEvent
from widgets.models import UnsignedField, Widget


def envelope(body, code):
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def test_create_widget_defaults(api_a):
    status, body = api_a.post("/api/v1/widgets", {"name": "Support"})
    assert status == 201
    assert body["name"] == "Support"
    assert body["signed_required"] is False
    assert body["enforcement"] == "off"
    assert body["unsigned_fields"] == []
    assert body["leeway_seconds"] == 60
    assert body["id"].startswith("wgt_")
    # URL-safe public id
    assert all(c.isalnum() or c in "-_" for c in body["id"])
    assert Widget.objects.get(public_id=body["id"]).tenant.slug == "acme"


def test_create_with_signed_required_sets_enforce(api_a):
    status, body = api_a.post("/api/v1/widgets", {"name": "Strict", "signed_required": True})
    assert status == 201
    assert body["signed_required"] is True and body["enforcement"] == "enforce"


@pytest.mark.parametrize(
    "payload, field",
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": 12}, "name"),
        ({"name": "x" * 121}, "name"),
        ({"name": "ok", "signed_required": "yes"}, "signed_required"),
        ({"name": "ok", "leeway_seconds": -1}, "leeway_seconds"),
        ({"name": "ok", "leeway_seconds": True}, "leeway_seconds"),
        ({"name": "ok", "enforcement": "strict"}, "enforcement"),
        ({"name": "ok", "required_claims": ["name"]}, "required_claims"),
        ({"name": "ok", "required_claims": {"name": "text"}}, "required_claims"),
        ({"name": "ok", "id": "wgt_mine"}, "id"),
        ({"name": "ok", "bogus": 1}, "bogus"),
        ({"name": "ok", "enforcement": "off", "signed_required": True}, "signed_required"),
    ],
)
def test_create_refuses_bad_input_and_stores_nothing(api_a, payload, field):
    status, body = api_a.post("/api/v1/widgets", payload)
    assert status == 400
    assert envelope(body, "invalid_request")["field"] == field
    assert Widget.objects.count() == 0


def test_body_not_json_or_not_object(api_a):
    status, body = api_a.post("/api/v1/widgets", raw="{not json")
    assert status == 400 and envelope(body, "invalid_request")["field"] == "body"
    status, body = api_a.post("/api/v1/widgets", raw="[1, 2]")
    assert status == 400 and envelope(body, "invalid_request")["field"] == "body"
    status, body = api_a.post("/api/v1/widgets", raw=b"\xff\xfe")
    assert status == 400


def test_body_too_large(api_a, settings):
    settings.SIGNET = {**settings.SIGNET, "API_MAX_BODY_BYTES": 1024}
    status, body = api_a.post("/api/v1/widgets", {"name": "x" * 2000})
    assert status == 413
    envelope(body, "request_too_large")
    assert Widget.objects.count() == 0


def test_list_only_own_tenant(api_a, api_b, widget_a, widget_b):
    status, body = api_a.get("/api/v1/widgets")
    assert status == 200
    assert [w["id"] for w in body["widgets"]] == [widget_a.public_id]


def test_other_tenants_widget_is_not_found(api_a, widget_b):
    for method, path, payload in [
        ("GET", f"/api/v1/widgets/{widget_b.public_id}", None),
        ("PATCH", f"/api/v1/widgets/{widget_b.public_id}", {"name": "hijack"}),
        ("GET", f"/api/v1/widgets/{widget_b.public_id}/unsigned-fields", None),
        ("PUT", f"/api/v1/widgets/{widget_b.public_id}/unsigned-fields", {"fields": ["x"]}),
        ("GET", f"/api/v1/widgets/{widget_b.public_id}/keys", None),
        ("POST", f"/api/v1/widgets/{widget_b.public_id}/verify", {}),
    ]:
        status, body = api_a.call(method, path, payload)
        missing_status, missing_body = api_a.call(method, path.replace(widget_b.public_id, "wgt_doesnotexist"), payload)
        assert status == 404, (method, path)
        # Exactly like a widget that does not exist: nothing reveals it.
        assert body == missing_body and missing_status == 404
        envelope(body, "not_found")
    widget_b.refresh_from_db()
    assert widget_b.name == "Globex chat"
    assert not UnsignedField.objects.filter(widget=widget_b).exists()


def test_patch_policy_and_enforcement(api_a, widget_a):
    path = f"/api/v1/widgets/{widget_a.public_id}"
    status, body = api_a.call(
        "PATCH",
        path,
        {
            "enforcement": "monitor",
            "leeway_seconds": 30,
            "required_claims": {"name": "string", "isLoggedIn": "boolean"},
        },
    )
    assert status == 200
    assert body["enforcement"] == "monitor" and body["signed_required"] is False
    assert body["required_claims"] == {"name": "string", "isLoggedIn": "boolean"}
    status, body = api_a.call("PATCH", path, {"signed_required": True})
    assert body["enforcement"] == "enforce" and body["signed_required"] is True
    status, body = api_a.call("PATCH", path, {"signed_required": False})
    assert body["enforcement"] == "off"
    actions = list(AuditEvent.objects.filter(target=widget_a.public_id).values_list("action", flat=True))
    assert actions.count("widget.enforcement_changed") == 3


def test_patch_bad_value_changes_nothing(api_a, widget_a):
    path = f"/api/v1/widgets/{widget_a.public_id}"
    status, body = api_a.call("PATCH", path, {"name": "New", "max_lifetime_seconds": "1h"})
    assert status == 400
    assert envelope(body, "invalid_request")["field"] == "max_lifetime_seconds"
    widget_a.refresh_from_db()
    assert widget_a.name == "Acme chat"


def test_unsigned_fields_put_and_get(api_a, widget_a):
    path = f"/api/v1/widgets/{widget_a.public_id}/unsigned-fields"
    status, body = api_a.call("PUT", path, {"fields": ["page_url", "language", "page_url"]})
    assert status == 200 and body == {"fields": ["language", "page_url"]}
    assert api_a.get(path) == (200, {"fields": ["language", "page_url"]})
    status, body = api_a.call("PUT", path, {"fields": ["language"]})
    assert body == {"fields": ["language"]}
    assert api_a.get(f"/api/v1/widgets/{widget_a.public_id}")[1]["unsigned_fields"] == ["language"]


@pytest.mark.parametrize(
    "payload", [{"fields": "page_url"}, {"fields": [1]}, {"fields": [""]}, {"fields": ["<script>"]}, {}, {"labels": []}]
)
def test_unsigned_fields_bad_input(api_a, widget_a, payload):
    UnsignedField.objects.create(widget=widget_a, label="keep")
    status, body = api_a.call("PUT", f"/api/v1/widgets/{widget_a.public_id}/unsigned-fields", payload)
    assert status == 400
    envelope(body, "invalid_request")
    assert list(UnsignedField.objects.values_list("label", flat=True)) == ["keep"]


def test_auth_required(api_a, widget_a):
    from tests.conftest import ApiClient

    for key in [None, "", "sgn_123", "sgn_000000000000_nope", api_a.raw_key + "x", "Basic abc"]:
        status, body = ApiClient(key).get("/api/v1/widgets")
        assert status == 401, key
        envelope(body, "unauthenticated")


def test_revoked_api_key_is_refused(api_a, tenant_a):
    from portal.models import ApiKey
    from portal.services import api_key_revoke

    assert api_a.get("/api/v1/widgets")[0] == 200
    api_key_revoke(api_key=ApiKey.objects.get(tenant=tenant_a))
    status, body = api_a.get("/api/v1/widgets")
    assert status == 401
    envelope(body, "unauthenticated")


def test_method_not_allowed_and_unknown_path(api_a, widget_a):
    status, body = api_a.call("DELETE", f"/api/v1/widgets/{widget_a.public_id}")
    assert status == 405
    envelope(body, "method_not_allowed")
    status, body = api_a.get("/api/v1/nothing-here")
    assert status == 404
    envelope(body, "not_found")


def test_rate_limit(api_a, settings):
    settings.SIGNET = {**settings.SIGNET, "API_RATE_LIMIT_PER_MINUTE": 3}
    statuses = [api_a.get("/api/v1/widgets")[0] for _ in range(5)]
    assert statuses[:3] == [200, 200, 200]
    status, body = api_a.get("/api/v1/widgets")
    assert status == 429
    assert "retry" in envelope(body, "rate_limited")["message"]


def test_healthz(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_healthz_database_down(client, db, monkeypatch):
    from django.db import OperationalError

    class DownConnection:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr("portal.views.connection", DownConnection())
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"


@pytest.mark.parametrize("extra", [{"tenant": 1}, {"actor": "x"}, {"changes": {}}, {"config_version": 9}])
def test_create_refuses_internal_names(api_a, extra):
    status, body = api_a.post("/api/v1/widgets", {"name": "ok", **extra})
    assert status == 400
    assert envelope(body, "invalid_request")["field"] == next(iter(extra))
    assert Widget.objects.count() == 0


def test_create_with_bad_allowlist_names_the_field_and_stores_nothing(api_a):
    status, body = api_a.post("/api/v1/widgets", {"name": "ok", "unsigned_fields": [1]})
    assert status == 400 and body["error"]["field"] == "unsigned_fields"
    assert Widget.objects.count() == 0


def test_patch_with_bad_allowlist_changes_nothing(api_a, widget_a):
    status, body = api_a.call(
        "PATCH", f"/api/v1/widgets/{widget_a.public_id}", {"name": "Renamed", "unsigned_fields": "page_url"}
    )
    assert status == 400 and body["error"]["field"] == "unsigned_fields"
    widget_a.refresh_from_db()
    assert widget_a.name == "Acme chat"


def test_healthz_post_is_405_not_csrf_page(client, db):
    response = client.post("/healthz")
    assert response.status_code == 405


def test_rate_limit_counts_other_processes_exactly_near_the_limit(api_a, settings):
    import time as _time

    from portal import sharedcache

    settings.SIGNET = {**settings.SIGNET, "API_RATE_LIMIT_PER_MINUTE": 30}
    prefix = api_a.raw_key.split("_")[1]
    # Other processes already used 28 of this minute's 30 requests.
    sharedcache.incr(f"rl:{prefix}:{int(_time.time() // 60)}", ttl=90, delta=28)
    statuses = [api_a.get("/api/v1/widgets")[0] for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_rate_limit_syncs_in_batches_far_below_the_limit(api_a, settings, monkeypatch):
    from portal import sharedcache

    settings.SIGNET = {**settings.SIGNET, "API_RATE_LIMIT_PER_MINUTE": 100_000}
    calls = []
    real = sharedcache.incr
    monkeypatch.setattr(sharedcache, "incr", lambda *a, **kw: calls.append(kw.get("delta")) or real(*a, **kw))
    for _ in range(41):
        assert api_a.get("/api/v1/widgets")[0] == 200
    # No round trip per request: the first request syncs, then every 20 (or every second).
    assert 2 <= len(calls) <= 6 and sum(calls) <= 41
