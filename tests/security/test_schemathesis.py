"""Fuzz the JSON API from its own OpenAPI description (schemathesis, bounded for CI).

Whatever /api/v1/openapi.json describes is exercised through the WSGI app with
a valid API key of tenant A: about 20 generated requests per operation, each
answered without a server error and with a response that matches the
documented schema. Widget ids in paths are replaced by tenant A's real widget,
so the requests reach the validation and verification code, not only the 404.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

MAX_EXAMPLES = 20
STATUSES = {}  # what the fuzzer got back, per operation (shown with -s; see test_the_fuzzer_got_past_the_front_door)


@pytest.fixture
def wsgi_in_test_transaction():
    """Called through WSGI, Django would close the test's database connection at the end of each
    request (close_old_connections); Django's own test client switches that off the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _load_schema():
    # Loaded at collection through the WSGI app itself: the document is built in memory and
    # needs no database. (schemathesis.pytest.from_fixture does not work with pytest 9.)
    from django.core.wsgi import get_wsgi_application

    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())


schema = _load_schema()


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_matches_its_openapi_description(case, api_a, widget_a, wsgi_in_test_transaction, fast_platform_keys):
    if case.path_parameters and "widget_id" in case.path_parameters:
        case.path_parameters["widget_id"] = widget_a.public_id
    headers = {**(case.headers or {}), "Authorization": f"Bearer {api_a.raw_key}"}
    response = case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])
    STATUSES.setdefault(f"{case.method} {case.path}", set()).add(response.status_code)


def test_the_openapi_document_is_valid_and_public(client, db):
    from openapi_spec_validator import validate

    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    validate(document)
    assert document["paths"], "the OpenAPI description lists no operations"


@pytest.mark.slow
def test_the_fuzzer_got_past_the_front_door():
    """Runs after the fuzz tests in this module: most operations must have answered something else than 401/404."""
    if not STATUSES:
        pytest.skip("the fuzz tests did not run in this session")
    print("\nschemathesis statuses:", {op: sorted(codes) for op, codes in sorted(STATUSES.items())})
    # Probes of undocumented methods answer 405 (or 403 from CSRF on public pages): not operations.
    documented = [op for op, codes in STATUSES.items() if codes - {403, 405}]
    reached = [op for op, codes in STATUSES.items() if codes - {401, 403, 404, 405}]
    assert len(reached) >= 0.75 * len(documented), sorted(set(documented) - set(reached))
