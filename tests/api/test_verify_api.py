"""POST /api/v1/widgets/<id>/verify and verify-batch, end to end through the API."""

import time

import pytest
from django.conf import settings

from keys.services import signing_key_register, signing_key_revoke
from widgets.models import ReplayRecord
from widgets.services import unsigned_fields_set, widget_update


def verify(api, widget, body):
    return api.post(f"/api/v1/widgets/{widget.public_id}/verify", body)


def test_fields_array_es256(api_a, widget_a, registered_ec, ec_key, fields_payload):
    token = ec_key.sign(fields_payload, headers={"kid": "site-1"})
    status, body = verify(api_a, widget_a, {"signed_interaction_data": token})
    assert status == 200, body
    assert body["verified"] is True
    assert body["kid"] == "site-1" and body["alg"] == "ES256"
    assert body["claims"] is None
    assert body["fields"] == [{**f, "signed": True} for f in fields_payload]
    assert body["rejected_unsigned"] == []


def test_claims_object_rs256(api_a, widget_a, rsa_key, claims):
    signing_key_register(widget=widget_a, public_key=rsa_key.public_pem, kid="rsa-1")
    payload = claims(prefs={"lang": "fr"}, vip=None)
    token = rsa_key.sign(payload)  # no kid: the widget's active keys are tried
    status, body = verify(api_a, widget_a, {"signed_interaction_data": token})
    assert status == 200, body
    assert body["verified"] is True and body["alg"] == "RS256" and body["kid"] == "rsa-1"
    # Registered claims are reported, not fields; order of the others is the signed order.
    assert set(body["claims"]) == {"iat", "exp", "jti", "sub"}
    assert [(f["label"], f["type"]) for f in body["fields"]] == [
        ("name", "string"),
        ("isLoggedIn", "boolean"),
        ("email", "string"),
        ("customerId", "number"),
        ("prefs", "json"),
    ]
    assert body["fields"][4]["data"] == {"lang": "fr"}


def test_null_typed_claim(api_a, widget_a, registered_ec, ec_key):
    token = ec_key.sign({"name": "x", "middle": None}, headers={"kid": "site-1"})
    status, body = verify(api_a, widget_a, {"signed_interaction_data": token})
    assert status == 200
    assert body["fields"][1] == {"label": "middle", "data": None, "type": "null", "signed": True}


def test_no_token_off_everything_passes(api_a, widget_a):
    unsigned = [
        {"label": "page_url", "data": "https://x", "type": "string"},
        {"label": "name", "data": "Eve", "type": "string"},
    ]
    status, body = verify(api_a, widget_a, {"unsigned_data": unsigned})
    assert status == 200
    assert body["verified"] is False and body["kid"] is None and body["alg"] is None
    assert [f["label"] for f in body["fields"]] == ["page_url", "name"]
    assert all(f["signed"] is False for f in body["fields"])
    assert body["rejected_unsigned"] == []


def test_no_token_enforce_only_allowlist(api_a, widget_a):
    widget_update(widget=widget_a, changes={"signed_required": True})
    unsigned_fields_set(widget=widget_a, labels=["page_url"])
    unsigned = [
        {"label": "page_url", "data": "https://x", "type": "string"},
        {"label": "name", "data": "Eve", "type": "string"},
    ]
    status, body = verify(api_a, widget_a, {"unsigned_data": unsigned})
    assert status == 200
    assert [f["label"] for f in body["fields"]] == ["page_url"]
    assert body["rejected_unsigned"] == ["name"]


def test_unsigned_cannot_shadow_signed(api_a, widget_a, registered_ec, ec_key, fields_payload):
    unsigned_fields_set(widget=widget_a, labels=["name", "page_url"])
    token = ec_key.sign(fields_payload, headers={"kid": "site-1"})
    unsigned = [
        {"label": "name", "data": "Mallory", "type": "string"},
        {"label": "page_url", "data": "/x", "type": "string"},
    ]
    status, body = verify(api_a, widget_a, {"signed_interaction_data": token, "unsigned_data": unsigned})
    assert status == 200
    names = [f for f in body["fields"] if f["label"] == "name"]
    assert names == [{"label": "name", "data": "Jane Doe", "type": "string", "signed": True}]
    assert body["fields"][-1] == {"label": "page_url", "data": "/x", "type": "string", "signed": False}
    assert body["rejected_unsigned"] == ["name"]


def test_valid_token_enforce_allowlist_applies(api_a, widget_a, registered_ec, ec_key, fields_payload):
    widget_update(widget=widget_a, changes={"enforcement": "enforce"})
    unsigned_fields_set(widget=widget_a, labels=["page_url"])
    token = ec_key.sign(fields_payload, headers={"kid": "site-1"})
    unsigned = [
        {"label": "page_url", "data": "/", "type": "string"},
        {"label": "coupon", "data": "FREE", "type": "string"},
    ]
    status, body = verify(api_a, widget_a, {"signed_interaction_data": token, "unsigned_data": unsigned})
    assert status == 200
    assert [f["label"] for f in body["fields"]] == ["name", "customer_id", "logged_in", "page_url"]
    assert body["rejected_unsigned"] == ["coupon"]


@pytest.mark.parametrize("mode", ["off", "enforce"])
def test_failing_token_is_422_never_dropped(api_a, widget_a, registered_ec, ec_key_2, fields_payload, mode):
    widget_update(widget=widget_a, changes={"enforcement": mode})
    token = ec_key_2.sign(fields_payload, headers={"kid": "site-1"})
    status, body = verify(api_a, widget_a, {"signed_interaction_data": token, "unsigned_data": []})
    assert status == 422
    assert body == {"verified": False, "error": {"code": "bad_signature", "message": body["error"]["message"]}}


def test_monitor_mode_reports_would_reject(api_a, widget_a, registered_ec, ec_key_2, fields_payload):
    widget_update(widget=widget_a, changes={"enforcement": "monitor"})
    token = ec_key_2.sign(fields_payload, headers={"kid": "site-1"})
    unsigned = [{"label": "coupon", "data": "FREE", "type": "string"}]
    status, body = verify(api_a, widget_a, {"signed_interaction_data": token, "unsigned_data": unsigned})
    assert status == 200
    assert body["verified"] is False
    assert body["would_reject"]["code"] == "bad_signature"
    assert [f["label"] for f in body["fields"]] == ["coupon"]
    assert body["rejected_unsigned"] == ["coupon"]


def test_unknown_kid_lists_active_kids(api_a, widget_a, registered_ec, ec_key, fields_payload):
    token = ec_key.sign(fields_payload, headers={"kid": "nope"})
    status, body = verify(api_a, widget_a, {"signed_interaction_data": token})
    assert status == 422 and body["error"]["code"] == "unknown_key"
    assert "site-1" in body["error"]["message"]


def test_revoked_key_stops_at_once(api_a, widget_a, registered_ec, ec_key, fields_payload):
    token = ec_key.sign(fields_payload, headers={"kid": "site-1"})
    assert verify(api_a, widget_a, {"signed_interaction_data": token})[0] == 200  # warms the snapshot
    signing_key_revoke(key=registered_ec)
    status, body = verify(api_a, widget_a, {"signed_interaction_data": token})
    assert status == 422 and body["error"]["code"] == "revoked_key"


def test_rotation_two_active_keys(api_a, widget_a, registered_ec, ec_key, ec_key_2, fields_payload):
    signing_key_register(widget=widget_a, public_key=ec_key_2.public_pem, kid="site-2")
    for key, kid in [(ec_key, "site-1"), (ec_key_2, "site-2")]:
        status, body = verify(api_a, widget_a, {"signed_interaction_data": key.sign(fields_payload)})
        assert status == 200 and body["kid"] == kid


def test_expired_message_is_actionable(api_a, widget_a, registered_ec, ec_key, claims):
    now = int(time.time())
    token = ec_key.sign(claims(iat=now - 900, exp=now - 252), headers={"kid": "site-1"})
    status, body = verify(api_a, widget_a, {"signed_interaction_data": token})
    assert status == 422 and body["error"]["code"] == "expired"
    assert "ago" in body["error"]["message"] and "leeway" in body["error"]["message"]


def test_replay_is_refused(api_a, widget_a, registered_ec, ec_key, claims):
    token = ec_key.sign(claims(), headers={"kid": "site-1"})
    assert verify(api_a, widget_a, {"signed_interaction_data": token})[0] == 200
    status, body = verify(api_a, widget_a, {"signed_interaction_data": token})
    assert status == 422 and body["error"]["code"] == "replayed"
    # The record lives in Redis when REDIS_URL is set, else in the database.
    assert ReplayRecord.objects.count() == (0 if settings.REDIS_URL else 1)


def test_replay_of_high_s_twin_is_refused(api_a, widget_a, registered_ec, ec_key, claims):
    """A malleated (s -> n - s) signature of the same token carries the same jti."""
    import base64

    token = ec_key.sign(claims(), headers={"kid": "site-1"})
    head, payload, sig = token.split(".")
    raw = base64.urlsafe_b64decode(sig + "==")
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    twin_sig = base64.urlsafe_b64encode(r.to_bytes(32, "big") + (n - s).to_bytes(32, "big")).rstrip(b"=").decode()
    twin = f"{head}.{payload}.{twin_sig}"
    assert twin != token  # the twin is a different string...
    assert verify(api_a, widget_a, {"signed_interaction_data": twin})[0] == 200  # ...and a valid signature
    status, body = verify(api_a, widget_a, {"signed_interaction_data": token})
    assert status == 422 and body["error"]["code"] == "replayed"


def test_same_jti_other_widget_is_independent(api_a, tenant_a, widget_a, registered_ec, ec_key, claims):
    from widgets.services import widget_create

    other = widget_create(tenant=tenant_a, name="Other")
    signing_key_register(widget=other, public_key=ec_key.public_pem, kid="site-1")
    token = ec_key.sign(claims(), headers={"kid": "site-1"})
    assert verify(api_a, widget_a, {"signed_interaction_data": token})[0] == 200
    assert verify(api_a, other, {"signed_interaction_data": token})[0] == 200


@pytest.mark.parametrize(
    "body, field",
    [
        ({"signed_interaction_data": 5}, "signed_interaction_data"),
        ({"unsigned_data": "x"}, "unsigned_data"),
        ({"unsigned_data": [{"label": "a"}]}, "unsigned_data[0]"),
        ({"unsigned_data": [{"label": "", "data": 1, "type": "number"}]}, "unsigned_data[0].label"),
        ({"unsigned_data": [{"label": "a", "data": 1, "type": 3}]}, "unsigned_data[0].type"),
        ({"unsigned_data": [{"label": "a", "data": 1, "type": "num\u0000ber"}]}, "unsigned_data[0].type"),
        ({"unsigned_data": [{"label": "a\tb", "data": 1, "type": "number"}]}, "unsigned_data[0].label"),
        ({"unsigned_data": [{"label": "a", "data": 1}, {"label": "a", "data": 2}]}, "unsigned_data[1].label"),
        ({"issue_session": "yes"}, "issue_session"),
        ({"token": "abc"}, "token"),
    ],
)
def test_verify_bad_shape(api_a, widget_a, body, field):
    status, payload = verify(api_a, widget_a, body)
    assert status == 400
    assert payload["error"]["code"] == "invalid_request" and payload["error"]["field"] == field


@pytest.mark.parametrize("token", ["", "   ", "\n"])
def test_an_empty_token_is_refused_not_dropped(api_a, widget_a, token):
    # API.md: "A token that is present but fails is never silently dropped"; null or no member is no token.
    unsigned = [{"label": "page", "data": "/pricing", "type": "string"}]
    status, body = verify(api_a, widget_a, {"signed_interaction_data": token, "unsigned_data": unsigned})
    assert status == 422 and body["error"]["code"] == "malformed_token"
    assert "The token is empty" in body["error"]["message"]
    status, body = verify(api_a, widget_a, {"signed_interaction_data": None, "unsigned_data": unsigned})
    assert status == 200 and body["verified"] is False and body["fields"][0]["label"] == "page"


def test_batch_matches_single_calls(api_a, widget_a, registered_ec, ec_key, ec_key_2, fields_payload, claims):
    good = ec_key.sign(fields_payload, headers={"kid": "site-1"})
    bad = ec_key_2.sign(fields_payload, headers={"kid": "site-1"})
    items = [
        {"signed_interaction_data": good},
        {"signed_interaction_data": bad},
        {"unsigned_data": [{"label": "x", "data": 1, "type": "number"}]},
        {"signed_interaction_data": "not.a.token"},
    ]
    status, body = api_a.post(f"/api/v1/widgets/{widget_a.public_id}/verify-batch", {"items": items})
    assert status == 200
    singles = [verify(api_a, widget_a, item)[1] for item in items]
    assert body["results"] == singles
    assert body["results"][1]["error"]["code"] == "bad_signature"
    assert body["results"][3]["error"]["code"] == "malformed_token"


def test_batch_consumes_each_jti_in_item_order(api_a, widget_a, registered_ec, ec_key, claims):
    # Signatures are checked for the whole batch first; replay is still decided item by item, in order.
    first, second = claims(jti="jti-1"), claims(jti="jti-2")
    token_1 = ec_key.sign(first, headers={"kid": "site-1"})
    token_2 = ec_key.sign(second, headers={"kid": "site-1"})
    items = [{"signed_interaction_data": t} for t in (token_1, token_1, token_2, token_1)]
    status, body = api_a.post(f"/api/v1/widgets/{widget_a.public_id}/verify-batch", {"items": items})
    assert status == 200
    codes = [r["error"]["code"] if not r["verified"] else "ok" for r in body["results"]]
    assert codes == ["ok", "replayed", "ok", "replayed"]
    assert body["results"][0]["claims"]["jti"] == "jti-1" and body["results"][2]["claims"]["jti"] == "jti-2"


def test_batch_items_are_logged_one_row_each(api_a, widget_a, registered_ec, ec_key, ec_key_2, fields_payload):
    from widgets import outcomes
    from widgets.models import VerificationLog

    good = ec_key.sign(fields_payload, headers={"kid": "site-1"})
    bad = ec_key_2.sign(fields_payload, headers={"kid": "site-1"})
    items = [{"signed_interaction_data": good}, {"signed_interaction_data": bad}, {}]
    api_a.post(f"/api/v1/widgets/{widget_a.public_id}/verify-batch", {"items": items})
    outcomes.flush()
    rows = list(VerificationLog.objects.order_by("id").values_list("code", "kid", "latency_us"))
    assert [(code, kid) for code, kid, _ in rows] == [("ok", "site-1"), ("bad_signature", ""), ("unsigned", "")]
    assert all(latency > 0 for _, _, latency in rows[:2])  # each carries its share of the signature checks


@pytest.mark.parametrize("items", [[], [{}] * 101, "x", None])
def test_batch_bad_shape(api_a, widget_a, items):
    status, body = api_a.post(f"/api/v1/widgets/{widget_a.public_id}/verify-batch", {"items": items})
    assert status == 400 and body["error"]["field"] == "items"


def test_batch_item_shape_error_names_item(api_a, widget_a):
    status, body = api_a.post(
        f"/api/v1/widgets/{widget_a.public_id}/verify-batch", {"items": [{}, {"unsigned_data": 3}]}
    )
    assert status == 400 and body["error"]["field"] == "items[1].unsigned_data"


def test_token_too_large(api_a, widget_a, registered_ec, ec_key):
    token = ec_key.sign({"blob": "x" * 17000}, headers={"kid": "site-1"})
    status, body = verify(api_a, widget_a, {"signed_interaction_data": token})
    # The body itself is under 64 KiB; the token is over 16 KiB.
    assert status == 422 and body["error"]["code"] == "token_too_large"


def test_warm_verify_reads_no_table(
    api_a, widget_a, registered_ec, ec_key, fields_payload, django_assert_max_num_queries
):
    token = ec_key.sign(fields_payload, headers={"kid": "site-1"})
    assert verify(api_a, widget_a, {"signed_interaction_data": token})[0] == 200  # cold: loads and caches
    # Warm, no jti: API key, tenant, widget snapshot and last_used markers all come from caches.
    with django_assert_max_num_queries(0):
        assert verify(api_a, widget_a, {"signed_interaction_data": token})[0] == 200


def test_warm_verify_with_jti_writes_only_the_replay_record(
    api_a, widget_a, registered_ec, ec_key, claims, django_assert_num_queries
):
    verify(api_a, widget_a, {"signed_interaction_data": ec_key.sign(claims(), headers={"kid": "site-1"})})
    token = ec_key.sign(claims(), headers={"kid": "site-1"})
    # Database replay store: 1. SAVEPOINT  2. INSERT replay record  3. RELEASE SAVEPOINT.
    # Redis replay store (REDIS_URL): no query at all.
    with django_assert_num_queries(0 if settings.REDIS_URL else 3):
        assert verify(api_a, widget_a, {"signed_interaction_data": token})[0] == 200


def test_last_used_at_is_maintained(api_a, widget_a, registered_ec, ec_key, fields_payload):
    assert registered_ec.last_used_at is None
    token = ec_key.sign(fields_payload, headers={"kid": "site-1"})
    verify(api_a, widget_a, {"signed_interaction_data": token})
    registered_ec.refresh_from_db()
    assert registered_ec.last_used_at is not None
