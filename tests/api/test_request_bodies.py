"""Request bodies: orjson reads them, the json module decides wherever the two could differ, and
what neither should take (deep nesting, NaN, infinite numbers) is a 400, never a 500."""

import json

import pytest

from portal.api import MAX_BODY_DEPTH


def post_raw(api, path, raw: bytes):
    response = api.client.generic(
        "POST", path, raw, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api.raw_key}"
    )
    return response.status_code, response.json()


def nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


@pytest.mark.parametrize("depth", [MAX_BODY_DEPTH + 1, 300, 950, 5000])
def test_deep_bodies_are_refused(api_a, widget_a, depth):
    # The unsigned data is echoed back: a body nested past what a JSON writer takes must not get that far.
    body = '{"unsigned_data":[{"label":"x","data":' + nested(depth - 3) + "}]}"
    status, answer = post_raw(api_a, f"/api/v1/widgets/{widget_a.public_id}/verify", body.encode())
    assert status == 400, answer
    assert answer["error"]["code"] == "invalid_request"
    assert f"deeper than {MAX_BODY_DEPTH} levels" in answer["error"]["message"]


def test_nesting_up_to_the_limit_is_echoed_back(api_a, widget_a):
    body = '{"unsigned_data":[{"label":"x","data":' + nested(MAX_BODY_DEPTH - 3) + "}]}"
    status, answer = post_raw(api_a, f"/api/v1/widgets/{widget_a.public_id}/verify", body.encode())
    assert status == 200, answer
    assert answer["fields"][0]["data"] == json.loads(nested(MAX_BODY_DEPTH - 3))


# Both readers: orjson (measured after parsing) and json (scanned before; a 19-digit integer sends the body there).
READERS = pytest.mark.parametrize("extra", ["1", str(2**70)], ids=["orjson", "json"])


@READERS
def test_many_shallow_containers_are_not_deep(api_a, widget_a, extra):
    data = "[" + ",".join(['{"a":[1]}'] * 200 + [extra]) + "]"  # 401 containers, 4 levels in all
    body = '{"unsigned_data":[{"label":"x","data":' + data + "}]}"
    status, answer = post_raw(api_a, f"/api/v1/widgets/{widget_a.public_id}/verify", body.encode())
    assert status == 200, answer
    assert len(answer["fields"][0]["data"]) == 201


@READERS
def test_a_deep_branch_after_shallow_siblings_is_found(api_a, widget_a, extra):
    data = "[" + ",".join(["[]"] * 100 + [extra, nested(MAX_BODY_DEPTH - 3)]) + "]"  # one level too many
    body = '{"unsigned_data":[{"label":"x","data":' + data + "}]}"
    status, answer = post_raw(api_a, f"/api/v1/widgets/{widget_a.public_id}/verify", body.encode())
    assert status == 400, answer
    assert f"deeper than {MAX_BODY_DEPTH} levels" in answer["error"]["message"]


@READERS
def test_the_deepest_allowed_branch_after_shallow_siblings_passes(api_a, widget_a, extra):
    data = "[" + ",".join(["[]"] * 100 + [extra, nested(MAX_BODY_DEPTH - 4)]) + "]"
    body = '{"unsigned_data":[{"label":"x","data":' + data + "}]}"
    status, answer = post_raw(api_a, f"/api/v1/widgets/{widget_a.public_id}/verify", body.encode())
    assert status == 200, answer


def test_brackets_inside_strings_do_not_count(api_a, widget_a):
    body = json.dumps({"unsigned_data": [{"label": "x", "data": "[" * 500 + "{" * 500}]})
    status, answer = post_raw(api_a, f"/api/v1/widgets/{widget_a.public_id}/verify", body.encode())
    assert status == 200 and answer["fields"][0]["data"] == "[" * 500 + "{" * 500


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("NaN", "NaN is not a JSON number"),
        ("-Infinity", "-Infinity is not a JSON number"),
        ("1e400", "too large"),
        ("1" * 5000, "an integer has too many digits to read"),  # valid JSON, beyond Python's 4300 digits
    ],
)
def test_numbers_json_does_not_have_are_refused(api_a, widget_a, value, words):
    body = '{"unsigned_data":[{"label":"x","data":' + value + "}]}"
    status, answer = post_raw(api_a, f"/api/v1/widgets/{widget_a.public_id}/verify", body.encode())
    assert status == 400, answer
    assert words in answer["error"]["message"]


def test_big_integers_stay_exact(api_a, widget_a):
    big = 2**70 + 1  # orjson would read it as a float
    body = '{"unsigned_data":[{"label":"x","data":' + str(big) + "}]}"
    status, answer = post_raw(api_a, f"/api/v1/widgets/{widget_a.public_id}/verify", body.encode())
    assert status == 200, answer
    assert answer["fields"][0]["data"] == big


@pytest.mark.parametrize("raw", [b"5", b"1.5", b"true", b"null", b'"x"'])
@pytest.mark.parametrize("method", ["verify", "verify-batch", "patch"])
def test_a_lone_json_value_is_never_a_server_error(api_a, widget_a, raw, method):
    path = f"/api/v1/widgets/{widget_a.public_id}" + ("" if method == "patch" else f"/{method}")
    response = api_a.client.generic(
        "PATCH" if method == "patch" else "POST",
        path,
        raw,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api_a.raw_key}",
    )
    if raw == b"null" and method == "verify":  # read as an empty body: nothing signed, nothing unsigned
        assert response.status_code == 200, response.content
    else:
        assert response.status_code == 400, response.content
        assert response.json()["error"]["code"] == "invalid_request"
