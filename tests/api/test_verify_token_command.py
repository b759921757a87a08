"""`manage.py verify_token`: the API's answer, for ops."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from widgets.models import ReplayRecord


def run(*args, stdin=None, monkeypatch=None):
    out = io.StringIO()
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = 0
    try:
        call_command("verify_token", *args, stdout=out)
    except SystemExit as exc:
        code = exc.code
    return code, json.loads(out.getvalue())


def test_same_answer_as_the_api(api_a, widget_a, registered_ec, ec_key, claims):
    token = ec_key.sign(claims(), headers={"kid": "site-1"})
    code, answer = run(widget_a.public_id, token)
    assert code == 0
    # A dry run by default: the jti is not consumed, so the API still accepts the token once.
    assert ReplayRecord.objects.count() == 0
    status, body = api_a.post(f"/api/v1/widgets/{widget_a.public_id}/verify", {"signed_interaction_data": token})
    assert status == answer.pop("status") == 200
    assert answer == body


def test_refusal_exits_1_with_the_code(widget_a, registered_ec, ec_key_2, fields_payload):
    code, answer = run(widget_a.public_id, ec_key_2.sign(fields_payload, headers={"kid": "site-1"}))
    assert code == 1
    assert answer["status"] == 422 and answer["error"]["code"] == "bad_signature"


def test_token_from_stdin(widget_a, registered_ec, ec_key, fields_payload, monkeypatch):
    token = ec_key.sign(fields_payload, headers={"kid": "site-1"})
    code, answer = run(widget_a.public_id, "-", stdin=token + "\n", monkeypatch=monkeypatch)
    assert code == 0 and answer["verified"] is True


def test_consume_jti_flag(widget_a, registered_ec, ec_key, claims):
    token = ec_key.sign(claims(), headers={"kid": "site-1"})
    assert run(widget_a.public_id, token, "--consume-jti")[0] == 0
    code, answer = run(widget_a.public_id, token, "--consume-jti")
    assert code == 1 and answer["error"]["code"] == "replayed"


def test_unknown_widget(db):
    with pytest.raises(CommandError, match="Unknown widget"):
        call_command("verify_token", "wgt_nope", "abc", stdout=io.StringIO())


def test_empty_token(widget_a):
    with pytest.raises(CommandError, match="No token"):
        call_command("verify_token", widget_a.public_id, "  ", stdout=io.StringIO())
