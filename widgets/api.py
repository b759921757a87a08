"""JSON API: widgets, unsigned-field allowlist, signing keys, verification (see ../shared/API.md)."""

import time

from django.db import transaction
from django.http import JsonResponse

from keys import jose
from keys.selectors import signing_key_for, signing_keys_of
from keys.serializers import key_json
from keys.services import signing_key_register, signing_key_revoke
from portal.api import ApiError, api_endpoint, require_object
from widgets import config, insights, outcomes
from widgets.selectors import unsigned_labels_of, widget_for, widgets_of
from widgets.serializers import widget_json
from widgets.services import unsigned_fields_set, widget_create, widget_update
from widgets.verification import check_tokens, parse_item, verify_item_with_drops

MAX_BATCH = 100


def _actor(request) -> str:
    return f"api-key:sgn_{request.api_key_prefix}_…"


@api_endpoint("GET", "POST")
def widgets(request):
    if request.method == "GET":
        items = widgets_of(tenant=request.tenant).prefetch_related("unsigned_fields")
        return 200, {"widgets": [widget_json(w, sorted(f.label for f in w.unsigned_fields.all())) for w in items]}
    body = dict(require_object(request.json))
    if "name" not in body:
        raise ApiError("invalid_request", "'name' is required.", field="name")
    labels = body.pop("unsigned_fields", None)
    with transaction.atomic():  # a bad allowlist leaves no widget behind
        widget = widget_create(tenant=request.tenant, name=body.pop("name"), changes=body, actor=_actor(request))
        if labels is not None:
            unsigned_fields_set(widget=widget, labels=labels, actor=_actor(request), field="unsigned_fields")
    return 201, widget_json(widget)


@api_endpoint("GET", "PATCH")
def widget_detail(request, widget_id):
    widget = widget_for(tenant=request.tenant, public_id=widget_id)
    if request.method == "PATCH":
        body = dict(require_object(request.json))
        labels = body.pop("unsigned_fields", None)
        with transaction.atomic():  # all of the PATCH or none of it
            widget = widget_update(widget=widget, changes=body, actor=_actor(request))
            if labels is not None:
                unsigned_fields_set(widget=widget, labels=labels, actor=_actor(request), field="unsigned_fields")
    return 200, widget_json(widget)


@api_endpoint("GET", "PUT")
def unsigned_fields(request, widget_id):
    widget = widget_for(tenant=request.tenant, public_id=widget_id)
    if request.method == "PUT":
        body = require_object(request.json, allowed={"fields"})
        if "fields" not in body:
            raise ApiError("invalid_request", "'fields' is required: a list of labels.", field="fields")
        return 200, {"fields": unsigned_fields_set(widget=widget, labels=body["fields"], actor=_actor(request))}
    return 200, {"fields": unsigned_labels_of(widget=widget)}


@api_endpoint("GET", "POST")
def keys(request, widget_id):
    widget = widget_for(tenant=request.tenant, public_id=widget_id)
    if request.method == "GET":
        return 200, {"keys": [key_json(k) for k in signing_keys_of(widget=widget)]}
    body = require_object(request.json, allowed={"public_key", "kid", "name", "expires_at"})
    key, warnings = signing_key_register(
        widget=widget,
        public_key=body.get("public_key"),
        kid=body.get("kid"),
        name=body.get("name") or "",
        expires_at=body.get("expires_at"),
        actor=_actor(request),
    )
    payload = key_json(key)
    if warnings:
        payload["warnings"] = list(warnings)
    return 201, payload


@api_endpoint("POST")
def key_revoke(request, widget_id, kid):
    widget = widget_for(tenant=request.tenant, public_id=widget_id)
    key = signing_key_revoke(key=signing_key_for(widget=widget, kid=kid), actor=_actor(request))
    return 200, key_json(key)


@api_endpoint("GET")
def jwks(request, widget_id):
    widget = widget_for(tenant=request.tenant, public_id=widget_id)
    out = []
    for key in signing_keys_of(widget=widget):
        if key.effective_status != "active":
            continue
        jwk = dict(jose.load_verifier(key.public_key_pem).facts.jwk)
        jwk.update({"kid": key.kid, "alg": key.algorithms[0], "use": "sig"})
        out.append(jwk)
    return JsonResponse({"keys": out})


def _verify_and_record(snapshot, item, prefix, *, now=None, checked=None, shared_seconds=0.0):
    """One item, answered and logged; `shared_seconds`: its share of a batch's signature checks."""
    started = time.perf_counter()
    status, body, drops = verify_item_with_drops(snapshot, item, now=now, checked=checked)
    latency = shared_seconds + time.perf_counter() - started
    outcomes.record(snapshot, item, status, body, drops, latency=latency, api_key_prefix=prefix)
    return status, body


def _widget_version(widget_id, **kwargs):
    return (config.version_key(widget_id),)


@api_endpoint("POST", prefetch=_widget_version)
def verify(request, widget_id):
    snapshot = config.snapshot_for(tenant_id=request.tenant_id, public_id=widget_id, prefetched=request.prefetched)
    item = parse_item(request.json if request.json is not None else {})
    return _verify_and_record(snapshot, item, request.api_key_prefix)


@api_endpoint("POST", prefetch=_widget_version)
def verify_batch(request, widget_id):
    snapshot = config.snapshot_for(tenant_id=request.tenant_id, public_id=widget_id, prefetched=request.prefetched)
    body = require_object(request.json, allowed={"items"})
    items = body.get("items")
    if not isinstance(items, list) or not (1 <= len(items) <= MAX_BATCH):
        raise ApiError("invalid_request", f"'items' must be a list of 1 to {MAX_BATCH} verify bodies.", field="items")
    parsed = [parse_item(entry, prefix=f"items[{index}].") for index, entry in enumerate(items)]
    started, now = time.perf_counter(), time.time()
    checked = check_tokens(snapshot, parsed, now=now)
    shared = (time.perf_counter() - started) / len(parsed)
    results = [
        _verify_and_record(snapshot, item, request.api_key_prefix, now=now, checked=found, shared_seconds=shared)[1]
        for item, found in zip(parsed, checked, strict=True)
    ]
    return 200, {"results": results}


@api_endpoint("GET")
def widget_insights(request, widget_id):
    widget = widget_for(tenant=request.tenant, public_id=widget_id)
    outcomes.flush()
    summary = insights.summarize(widget, request.GET.get("window", "7d"))
    return 200, insights.as_json(summary)
