"""The JSON API's plumbing: bearer auth, body limits, rate limits and the error envelope.

`api_endpoint` is the only entrance to the API: it authenticates the API key,
sets `request.tenant` once, parses the JSON body and turns every refusal into
`{"error": {"code", "message", "field"?}}`. Nothing a client sends produces an
HTML page or a traceback.
"""

import hmac
import json
import logging
import re
import time
from functools import wraps

import orjson
from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, transaction
from django.http import Http404, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.views.decorators.csrf import csrf_exempt

from keys.engine import NUMBERS_DECODER, JSONRefused, has_long_digit_run, too_deep
from portal import sharedcache
from portal.errors import ServiceError
from portal.models import ApiKey, Tenant, hash_api_key

log = logging.getLogger("signet.api")

API_KEY_CACHE_SECONDS = 60
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
MAX_BODY_DEPTH = 64


class ApiError(ServiceError):
    def __init__(self, code: str, message: str, *, headers: dict | None = None, **kwargs):
        super().__init__(code, message, **kwargs)
        self.headers = headers


def error_response(status: int, code: str, message: str, field: str | None = None, headers=None) -> JsonResponse:
    error = {"code": code, "message": message}
    if field:
        error["field"] = field
    response = JsonResponse({"error": error}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _parse_bearer(request) -> tuple[str, str] | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, raw = header.partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw.startswith("sgn_") or len(raw) > 200:
        return None
    parts = raw.split("_")
    if len(parts) < 3 or len(parts[1]) != 12:
        return None
    return raw, parts[1]


def _entry_key(prefix: str) -> str:
    return f"apikey:v2:{prefix}"


def _lookup_api_key(prefix: str, prefetch: tuple[str, ...] = ()) -> tuple[dict | None, dict]:
    """API key row (with its tenant's slug and name) as a small dict, cached so the
    warm path reads no table and makes one cache round trip.

    Readers only `add`, never `set`: a reader that loaded the row before a
    revocation committed cannot overwrite what the revocation left (forget_api_key).
    """
    found = sharedcache.get_many([_entry_key(prefix), *prefetch])
    extra = {key: found[key] for key in prefetch if key in found}
    cached = found.get(_entry_key(prefix))
    if cached is not None:
        return cached or None, extra
    row = (
        ApiKey.objects.filter(prefix=prefix)
        .values("id", "tenant_id", "key_hash", "revoked_at", "tenant__slug", "tenant__name")
        .first()
    )
    entry = {}
    if row and row["revoked_at"] is None:
        entry = {
            "id": row["id"],
            "tenant_id": row["tenant_id"],
            "key_hash": row["key_hash"],
            "tenant": (row["tenant__slug"], row["tenant__name"]),
        }
    sharedcache.add(_entry_key(prefix), entry, API_KEY_CACHE_SECONDS)
    return entry or None, extra


def forget_api_key(prefix: str, *, gone: bool) -> None:
    """After a change to a key: drop its entry now, and again once committed.

    A revoked or deleted key (`gone`) gets a tombstone on commit instead: a reader that
    loaded the row before the change committed can then never `add` it back.
    """
    key = _entry_key(prefix)
    sharedcache.delete(key)
    if gone:
        transaction.on_commit(lambda: sharedcache.set(key, {}, API_KEY_CACHE_SECONDS))
    else:
        transaction.on_commit(lambda: sharedcache.delete(key))


def authenticate(request, prefetch: tuple[str, ...] = ()) -> None:
    """Set request.tenant from the bearer key. `prefetch`: more shared-cache keys to read in the
    same round trip (the verify path's widget version); found in `request.prefetched`."""
    parsed = _parse_bearer(request)
    if parsed is None:
        raise ApiError("unauthenticated", "Send a valid API key as 'Authorization: Bearer <key>'.", status=401)
    raw, prefix = parsed
    entry, request.prefetched = _lookup_api_key(prefix, prefetch)
    if not entry or not hmac.compare_digest(entry["key_hash"], hash_api_key(raw)):
        raise ApiError("unauthenticated", "This API key is not valid or has been revoked.", status=401)
    request.api_key_id = entry["id"]
    request.api_key_prefix = prefix
    slug, name = entry["tenant"]
    tenant_id = request.tenant_id = entry["tenant_id"]
    # Built on first use: the verify endpoints need only the id, and a model instance per request
    # (with its init signals) cost about 3 % of a verification.
    request.tenant = SimpleLazyObject(lambda: Tenant(id=tenant_id, slug=slug, name=name))
    # last_used_at at most once a minute per key: no write (and no round trip) per request.
    if sharedcache.mark_once(f"apikey-used:{entry['id']}", 60):
        ApiKey.objects.filter(pk=entry["id"]).update(last_used_at=timezone.now())


# Per process: {counter key: [requests not yet added to the shared counter, shared total last seen, last sync]}.
_rate_counts: dict[str, list] = {}
RATE_SYNC_EVERY = 20
RATE_SYNC_SECONDS = 1.0


def rate_limit(request) -> None:
    """Requests per API key per minute, counted across processes in the shared cache.

    Far below the limit a process adds its count to the shared counter every
    RATE_SYNC_EVERY requests or RATE_SYNC_SECONDS (no round trip per request);
    from 90 % of the limit on it syncs on every request, so the limit is exact.
    """
    limit = settings.SIGNET["API_RATE_LIMIT_PER_MINUTE"]
    if not limit:
        return
    now = time.time()
    window = int(now // 60)
    key = f"rl:{request.api_key_prefix}:{window}"
    state = _rate_counts.get(key)
    if state is None:
        if len(_rate_counts) > 10_000:
            _rate_counts.clear()
        state = _rate_counts[key] = [0, 0, 0.0]
    state[0] += 1
    if state[0] >= RATE_SYNC_EVERY or now - state[2] >= RATE_SYNC_SECONDS or state[1] + state[0] > limit * 0.9:
        total = sharedcache.incr(key, ttl=90, delta=state[0])
        if total is not None:  # the cache is down: fail open, counted locally only
            state[1], state[0] = total, 0
        state[2] = now
    if state[1] + state[0] > limit:
        retry = 60 - int(now % 60)
        raise ApiError(
            "rate_limited",
            f"This API key made more than {limit} requests this minute; retry in {retry} s.",
            status=429,
            headers={"Retry-After": str(retry)},
        )


def _nesting_error() -> ApiError:
    return ApiError("invalid_request", f"The request body is nested deeper than {MAX_BODY_DEPTH} levels.", field="body")


def _deeper_than(value, limit: int) -> bool:
    """Whether parsed JSON `value` nests more than `limit` containers deep (iterative: any depth is safe)."""
    if type(value) is not dict and type(value) is not list:  # a lone string, number, true/false or null
        return False
    level, depth = [value], 0
    while level:
        depth += 1
        if depth > limit:
            return True
        below = []
        keep = below.append
        for container in level:  # plain loops: a generator here cost 5x (a 100-token body: 65 us, not 320)
            for child in container.values() if type(container) is dict else container:
                kind = type(child)  # orjson makes exactly dict and list, never subclasses
                if kind is dict or kind is list:
                    keep(child)
        level = below
    return False


def read_json(request):
    limit = settings.SIGNET["API_MAX_BODY_BYTES"]
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise ApiError("request_too_large", f"The request body is over the {limit}-byte limit.", status=413)
    try:
        body = request.read(limit + 1)
    except RequestDataTooBig:
        raise ApiError("request_too_large", f"The request body is over the {limit}-byte limit.", status=413) from None
    if len(body) > limit:
        raise ApiError("request_too_large", f"The request body is over the {limit}-byte limit.", status=413)
    if not body.strip():
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError("invalid_request", "The request body is not valid UTF-8 JSON.", field="body") from None
    # orjson reads what json reads, faster; where they differ (NaN, integers over 64 bits, lone
    # surrogates, anything it refuses) json decides, with the same rules and messages as before.
    # Depth: orjson itself stops at 1024 levels, so its result is measured after parsing (a walk over
    # the containers, where a text scan of a 50 KB batch body cost a millisecond); the json fallback
    # recurses, so its input is scanned before.
    if not has_long_digit_run(body):
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
        else:
            if _deeper_than(value, MAX_BODY_DEPTH):
                raise _nesting_error()
            return value
    if too_deep(text, MAX_BODY_DEPTH):
        raise _nesting_error()
    try:
        value = NUMBERS_DECODER.decode(text)
    except JSONRefused as exc:
        raise ApiError("invalid_request", f"The request body is refused: {exc}.", field="body") from None
    except (ValueError, RecursionError):
        raise ApiError("invalid_request", "The request body is not valid UTF-8 JSON.", field="body") from None
    # json accepts "\ud800" escapes that decode to lone surrogates: no database or response can hold them.
    if _SURROGATE_ESCAPE.search(body):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(
                "invalid_request", "The body holds an unpaired UTF-16 surrogate escape (\\uD800-\\uDFFF).", field="body"
            ) from None
    return value


def api_endpoint(*methods: str, auth: bool = True, prefetch=None):
    """Wrap a view `(request, **kwargs) -> (status, payload)` or a JsonResponse.

    `prefetch(**kwargs)` may name shared-cache keys the view will need, read together with the API key.
    """

    def decorator(view):
        @csrf_exempt
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            try:
                if request.method not in methods:
                    raise ApiError("method_not_allowed", f"Use {' or '.join(methods)} on this URL.", status=405)
                if auth:
                    authenticate(request, tuple(prefetch(**kwargs)) if prefetch else ())
                    rate_limit(request)
                request.json = read_json(request) if request.method in ("POST", "PUT", "PATCH") else None
                result = view(request, *args, **kwargs)
            except ServiceError as exc:
                headers = {"Allow": ", ".join(methods)} if exc.status == 405 else getattr(exc, "headers", None)
                return error_response(exc.status, exc.code, exc.message, exc.field, headers)
            except Http404:
                return error_response(404, "not_found", "No such object for this API key's tenant.")
            except PermissionDenied:
                return error_response(403, "forbidden", "This API key may not do that.")
            except DatabaseError:
                log.exception("database unavailable during %s %s", request.method, request.path)
                return error_response(503, "service_unavailable", "The database is not answering; retry shortly.")
            if isinstance(result, JsonResponse):
                return result
            status, payload = result
            return json_response(payload, status)

        return wrapped

    return decorator


def json_response(payload, status: int = 200) -> HttpResponse:
    """UTF-8 JSON. orjson writes it several times faster than json; integers beyond 64 bits
    (a signed claim may hold one) make it refuse, and json writes those."""
    try:
        body = orjson.dumps(payload)
    except TypeError:
        body = json.dumps(payload, ensure_ascii=False, cls=DjangoJSONEncoder).encode("utf-8")
    return HttpResponse(body, status=status, content_type="application/json")


def require_object(body, *, allowed: set[str] | None = None) -> dict:
    if not isinstance(body, dict):
        raise ApiError("invalid_request", "The request body must be a JSON object.", field="body")
    if allowed is not None:
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise ApiError("invalid_request", f"Unknown field '{unknown[0]}'.", field=unknown[0])
    return body
