"""API.md: every non-2xx answer of its URLs is the JSON envelope, "never HTML" — Django's own 400/403/405 too."""

import json

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

JSON = "application/json"


def envelope(response, status, code):
    assert response.status_code == status
    assert response["Content-Type"].startswith(JSON), response.content[:200]
    error = json.loads(response.content)["error"]
    assert error["code"] == code and error["message"]
    return error


@pytest.mark.parametrize("path", ["/healthz", "/.well-known/jwks.json"])
@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_public_json_urls_refuse_other_methods_with_the_envelope_never_a_csrf_page(path, method):
    client = Client(enforce_csrf_checks=True)  # what a real server does; the default test client skips CSRF
    response = getattr(client, method)(path, data="{}", content_type=JSON)
    envelope(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET"


def test_public_json_urls_still_answer_get(client):
    assert client.get("/healthz").json()["status"] == "ok"
    assert "keys" in client.get("/.well-known/jwks.json").json()


@pytest.mark.parametrize("path", ["/api/v1/widgets", "/healthz", "/.well-known/jwks.json"])
def test_a_host_not_allowed_is_a_json_400(client, path):
    envelope(client.get(path, HTTP_HOST="evil.example"), 400, "invalid_request")


def test_pages_keep_their_html_400(client):
    response = client.get("/accounts/login/", HTTP_HOST="evil.example")
    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")


def test_too_many_query_parameters_is_a_json_400(api_a, widget_a, settings):
    query = "&".join(f"p{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 100))
    response = api_a.client.get(
        f"/api/v1/widgets/{widget_a.public_id}/insights?{query}", HTTP_AUTHORIZATION=f"Bearer {api_a.raw_key}"
    )
    envelope(response, 400, "invalid_request")


def test_csrf_failure_on_a_json_url_is_the_envelope(rf):
    from portal.errors_views import csrf_failure_view

    response = csrf_failure_view(rf.post("/api/v1/widgets"), reason="CSRF cookie not set.")
    envelope(response, 403, "forbidden")
    page = csrf_failure_view(rf.post("/accounts/login/"), reason="CSRF cookie not set.")
    assert page.status_code == 403 and page["Content-Type"].startswith("text/html")


def test_a_403_on_a_json_url_is_the_envelope(rf):
    from django.core.exceptions import PermissionDenied

    from portal.errors_views import handler403_view

    envelope(handler403_view(rf.get("/api/v1/widgets"), PermissionDenied()), 403, "forbidden")
    assert handler403_view(rf.get("/t/acme/"), PermissionDenied())["Content-Type"].startswith("text/html")


def test_rate_limited_says_when_to_retry(api_a, settings):
    settings.SIGNET = {**settings.SIGNET, "API_RATE_LIMIT_PER_MINUTE": 2}
    for _ in range(2):
        api_a.get("/api/v1/widgets")
    response = api_a.client.get("/api/v1/widgets", HTTP_AUTHORIZATION=f"Bearer {api_a.raw_key}")
    envelope(response, 429, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert f"retry in {response['Retry-After']} s" in json.loads(response.content)["error"]["message"]
