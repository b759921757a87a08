"""The isolation sweep: every URL pattern of the project, every kind of visitor.

The URL patterns are enumerated from the resolver, so a new page is swept as
soon as it is routed; and a URL name that is not classified in ACCESS below
fails `test_every_url_is_classified`, so a new page must say who may use it.

Visitors: anonymous, each role of tenant A (bob viewer, dave developer, erin
admin, alice owner), charlie (admin of tenant B), a staff user and a superuser
without memberships (Django admin gives no tenant access). URLs are filled
with tenant A's objects; with tenant B's objects under tenant A, even the owner
of A gets 404. On the JSON API: no key → 401, tenant B's key on A's objects → 404.
A request that is refused never writes an audit event.
"""

import json
import re
from dataclasses import dataclass, field

import pytest
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse

from portal.models import AuditEvent, Role

# --- the table -----------------------------------------------------------------

NOT_USED = "not used"  # the method has no purpose here: 405, or a harmless redirect/page, and nothing changes


@dataclass(frozen=True)
class Tenant:
    """A page under /t/<tenant_slug>/: the lowest role for GET and for POST."""

    get: str
    post: str


@dataclass(frozen=True)
class LoggedIn:
    """Any logged-in user (not tenant data); anonymous visitors are sent to the login page."""

    post: bool = False


@dataclass(frozen=True)
class Public:
    """Open to everyone. `anon_only`: a logged-in user is redirected away (the login page)."""

    post: bool = False
    anon_only: bool = False


@dataclass(frozen=True)
class Api:
    """A /api/v1/ endpoint behind an API key; `methods` it answers."""

    methods: tuple = ("GET",)
    public: bool = False


@dataclass(frozen=True)
class Admin:
    """Django admin: staff only, by Django's own checks."""


VIEW, DEV, ADM, OWN = Role.VIEWER, Role.DEVELOPER, Role.ADMIN, Role.OWNER

ACCESS = {
    # Ops and accounts
    "healthz": Public(),
    "favicon": Public(),  # an empty 204, so browsers stop asking (the Django admin names no icon)
    "login": Public(post=True, anon_only=True),
    "logout": LoggedIn(post=True),  # POST only; anonymous POST just lands on the login page
    "password_change": LoggedIn(post=True),
    "password_change_done": LoggedIn(),
    "portal:accept_invite": Public(post=True),
    "portal:home": LoggedIn(),
    "portal:playground_root": LoggedIn(),
    "keys:session_jwks": Public(),
    # Tenant pages: read for every member, change for admins, members for owners
    "widgets:dashboard": Tenant(get=VIEW, post=NOT_USED),
    "widgets:create": Tenant(get=NOT_USED, post=ADM),
    "widgets:detail": Tenant(get=VIEW, post=NOT_USED),
    "widgets:insights": Tenant(get=VIEW, post=NOT_USED),
    "widgets:settings": Tenant(get=NOT_USED, post=ADM),
    # Developers add test keys only where the widget allows it; the swept widget does not.
    "widgets:key_add": Tenant(get=NOT_USED, post=ADM),
    "widgets:key_revoke": Tenant(get=ADM, post=ADM),
    "widgets:allowlist_add": Tenant(get=NOT_USED, post=ADM),
    "widgets:allowlist_remove": Tenant(get=NOT_USED, post=ADM),
    # Issue 5: the playground is for every role (dry runs only; test keys and decryption check their own roles).
    "widgets:playground": Tenant(get=VIEW, post=VIEW),
    "portal:api_keys": Tenant(get=VIEW, post=ADM),
    "portal:api_key_revoke": Tenant(get=NOT_USED, post=ADM),
    "keys:encryption_keys": Tenant(get=VIEW, post=NOT_USED),
    "keys:encryption_key_create": Tenant(get=NOT_USED, post=ADM),
    "keys:encryption_key_retire": Tenant(get=NOT_USED, post=ADM),
    "keys:encryption_key_pem": Tenant(get=VIEW, post=NOT_USED),
    "keys:encryption_key_jwk": Tenant(get=VIEW, post=NOT_USED),
    "portal:members": Tenant(get=OWN, post=OWN),
    "portal:member_invite": Tenant(get=OWN, post=OWN),
    "portal:member_role": Tenant(get=NOT_USED, post=OWN),
    "portal:member_remove": Tenant(get=NOT_USED, post=OWN),
    "portal:audit": Tenant(get=VIEW, post=NOT_USED),
    # JSON API
    "api:openapi": Api(public=True),
    "api:widgets": Api(("GET", "POST")),
    "api:widget": Api(("GET", "PATCH")),
    "api:unsigned_fields": Api(("GET", "PUT")),
    "api:keys": Api(("GET", "POST")),
    "api:key_revoke": Api(("POST",)),
    "api:jwks": Api(("GET",)),
    "api:verify": Api(("POST",)),
    "api:verify_batch": Api(("POST",)),
    "api:insights": Api(("GET",)),
    "api:encryption_keys": Api(("GET", "POST")),
    "api:encryption_key_retire": Api(("POST",)),
    "api:session_redeem": Api(("POST",)),
}
NAMESPACE_RULES = {"admin": Admin()}

# Which object each URL keyword names (the `kid` of encryption-key URLs is an encryption key's).
OBJECT_KWARGS = {"widget_id", "kid", "prefix", "membership_id"}


# --- enumerating the URLconf ---------------------------------------------------


@dataclass
class Route:
    name: str
    route: str
    kwargs: list = field(default_factory=list)


KWARG_RE = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>")


def all_routes() -> list[Route]:
    routes = []

    def walk(patterns, prefix, namespace):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                ns = ":".join(x for x in (namespace, pattern.namespace) if x) or None
                walk(pattern.url_patterns, prefix + str(pattern.pattern), ns)
            else:
                route = prefix + str(pattern.pattern)
                if pattern.name:
                    name = f"{namespace}:{pattern.name}" if namespace else pattern.name
                else:
                    name = f"{namespace}:<unnamed {route}>" if namespace else f"<unnamed {route}>"
                kwargs = [a or b for a, b in KWARG_RE.findall(route)]
                routes.append(Route(name, route, kwargs))

    walk(get_resolver().url_patterns, "", None)
    return routes


def rule_for(name: str):
    if name in ACCESS:
        return ACCESS[name]
    namespace = name.split(":", 1)[0] if ":" in name else None
    return NAMESPACE_RULES.get(namespace)


ROUTES = all_routes()
SWEPT = [r for r in ROUTES if not isinstance(rule_for(r.name), Admin)]


def test_every_url_is_classified():
    missing = [f"{r.name}  ({r.route})" for r in ROUTES if rule_for(r.name) is None]
    assert not missing, "Classify these URLs in ACCESS (tests/security/test_isolation.py):\n" + "\n".join(missing)


def test_table_has_no_stale_entries():
    names = {r.name for r in ROUTES}
    stale = sorted(set(ACCESS) - names)
    assert not stale, f"ACCESS names URLs that no longer exist: {stale}"


def test_the_sweep_sees_the_whole_project():
    names = {r.name for r in ROUTES}
    # A sanity check of the enumeration itself, not a list to maintain.
    for expected in ("portal:members", "widgets:detail", "api:verify", "login", "keys:encryption_keys"):
        assert expected in names
    assert any(r.name.startswith("admin:") for r in ROUTES)


# --- building requests -----------------------------------------------------------


def url_for(route: Route, values: dict) -> str:
    kwargs = {}
    for kw in route.kwargs:
        if kw == "kid" and "encryption" in route.name:
            kwargs[kw] = values["enc_kid"]
        else:
            kwargs[kw] = values[kw]
    return reverse(route.name, kwargs=kwargs)


def is_login_redirect(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(reverse("login"))


def tenant_a_audit_count(tenant_a) -> int:
    return AuditEvent.objects.filter(tenant=tenant_a).count()


def role_rank(role: str) -> int:
    return [VIEW, DEV, ADM, OWN].index(role)


@pytest.fixture
def people(world, alice, bob, dave, erin, charlie, staff, superuser):
    def client(user):
        c = Client()
        if user is not None:
            c.force_login(user)
        return c

    # Lowest role first, owner last: an owner's POST may remove bob, which must come after the rest.
    return [
        ("anonymous", None, client(None)),
        ("charlie (tenant B)", "outsider", client(charlie)),
        ("staff, no membership", "outsider", client(staff)),
        ("superuser, no membership", "outsider", client(superuser)),
        ("bob (viewer)", VIEW, client(bob)),
        ("dave (developer)", DEV, client(dave)),
        ("erin (admin)", ADM, client(erin)),
        ("alice (owner)", OWN, client(alice)),
    ]


def _send(client, method, url):
    if method == "GET":
        return client.get(url)
    return client.post(url, {})


def check_tenant_page(rule: Tenant, route: Route, world, people, tenant_a) -> list[str]:
    problems = []
    url_a = url_for(route, world["a"])
    lowest = min((r for r in (rule.get, rule.post) if r != NOT_USED), key=role_rank)
    for method, needed in (("GET", rule.get), ("POST", rule.post)):
        for label, role, client in people:
            if role == OWN and any(k in OBJECT_KWARGS for k in route.kwargs):
                # Before the owner's own request: tenant B's objects under tenant A are 404, even for the owner.
                url_b = url_for(route, {**world["b"], "tenant_slug": world["a"]["tenant_slug"]})
                before = tenant_a_audit_count(tenant_a)
                response = _send(client, method, url_b)
                if response.status_code not in (404, 405):
                    problems.append(f"{method} {url_b} as {label} with tenant B's objects: {response.status_code}")
                if tenant_a_audit_count(tenant_a) != before:
                    problems.append(f"{method} {url_b} with tenant B's objects changed something")
            before = tenant_a_audit_count(tenant_a)
            response = _send(client, method, url_a)
            status = response.status_code
            refused = True
            if role is None:
                ok = is_login_redirect(response) or (needed == NOT_USED and status == 405)
                expected = "login redirect"
            elif role == "outsider":
                ok = status == 404 or (needed == NOT_USED and status == 405)
                expected = "404"
            elif role_rank(role) < role_rank(lowest if needed == NOT_USED else needed):
                ok = status == 403 or (needed == NOT_USED and status == 405)
                expected = "403"
            elif needed == NOT_USED:
                ok = status in (200, 302, 405) and not is_login_redirect(response)
                expected = "405, or a harmless page/redirect"
            else:
                refused = False
                ok = status in (200, 302, 400) and not is_login_redirect(response)
                expected = "allowed (200/302/400)"
            if not ok:
                problems.append(f"{method} {url_a} as {label}: {status}, expected {expected}")
            if refused and tenant_a_audit_count(tenant_a) != before:
                problems.append(f"{method} {url_a} as {label} was refused but changed something")
    return problems


def check_logged_in(rule: LoggedIn, route: Route, world, people) -> list[str]:
    problems = []
    url = url_for(route, world["a"])
    for method, used in (("GET", route.name != "logout"), ("POST", rule.post)):
        for label, role, client in people:
            response = _send(client, method, url)
            status = response.status_code
            if role is None:
                ok = is_login_redirect(response) or status == 405
            elif route.name == "logout" and method == "POST":
                ok = status in (200, 302)  # logged out, and perhaps sent to the login page
            elif used:
                ok = status in (200, 302, 400) and not is_login_redirect(response)
            else:
                ok = status in (200, 302, 405) and not is_login_redirect(response)
            if not ok:
                problems.append(f"{method} {url} as {label}: {status}")
    return problems


def check_public(rule: Public, route: Route, world, people) -> list[str]:
    problems = []
    url = url_for(route, world["a"])
    for method, used in (("GET", True), ("POST", rule.post)):
        for label, role, client in people:
            response = _send(client, method, url)
            status = response.status_code
            if not used:
                ok = status in (405, 200, 302)
            elif rule.anon_only and role is not None:
                ok = status == 302
            else:
                ok = status in (200, 204, 302, 400)  # 204: /favicon.ico
            if not ok:
                problems.append(f"{method} {url} as {label}: {status}")
    return problems


def _api(client, method, url, key=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    body = "" if method == "GET" else "{}"
    return client.generic(method, url, data=body, content_type="application/json", **headers)


def check_api(rule: Api, route: Route, world, tenant_a, tenant_b) -> list[str]:
    from portal.services import api_key_create

    problems = []
    client = Client()
    _, key_a = api_key_create(tenant=tenant_a, name="sweep A")
    _, key_b = api_key_create(tenant=tenant_b, name="sweep B")
    url_a = url_for(route, world["a"])
    names_objects = any(k in OBJECT_KWARGS for k in route.kwargs)
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        allowed = method in rule.methods
        for label, key in (("no key", None), ("a wrong key", "sgn_000000000000_nope")):
            response = _api(client, method, url_a, key)
            if rule.public:
                ok = response.status_code in ((200,) if allowed else (200, 405))
            else:
                ok = response.status_code in ((401,) if allowed else (401, 405))
            if not ok:
                problems.append(f"{method} {url_a} with {label}: {response.status_code}")
        if rule.public:
            continue
        if names_objects:
            before = tenant_a_audit_count(tenant_a)
            response = _api(client, method, url_a, key_b)
            if response.status_code not in ((404,) if allowed else (404, 405)):
                problems.append(f"{method} {url_a} with tenant B's key: {response.status_code}, expected 404")
            url_b = url_for(route, world["b"])
            response = _api(client, method, url_b, key_a)
            if response.status_code not in ((404,) if allowed else (404, 405)):
                problems.append(f"{method} {url_b} with tenant A's key: {response.status_code}, expected 404")
            if tenant_a_audit_count(tenant_a) != before:
                problems.append(f"{method} {url_a} with the other tenant's key changed something")
        response = _api(client, method, url_a, key_a)
        status = response.status_code
        if allowed:
            ok = status < 500 and status not in (401, 403, 404, 405)
        else:
            ok = status == 405
        if not ok:
            problems.append(f"{method} {url_a} with tenant A's key: {status}")
        if status >= 400:
            try:
                error = json.loads(response.content)["error"]
                assert isinstance(error["code"], str) and isinstance(error["message"], str)
            except (ValueError, KeyError, TypeError, AssertionError):
                problems.append(f"{method} {url_a}: a {status} without the JSON error envelope")
    return problems


@pytest.mark.parametrize("route", SWEPT, ids=[r.name for r in SWEPT])
def test_isolation_sweep(route, world, people, tenant_a, tenant_b):
    rule = rule_for(route.name)
    if rule is None:
        pytest.fail(f"{route.name} is not classified in ACCESS")
    if isinstance(rule, Tenant):
        problems = check_tenant_page(rule, route, world, people, tenant_a)
    elif isinstance(rule, LoggedIn):
        problems = check_logged_in(rule, route, world, people)
    elif isinstance(rule, Public):
        problems = check_public(rule, route, world, people)
    else:
        problems = check_api(rule, route, world, tenant_a, tenant_b)
    assert not problems, f"{route.name} ({route.route}):\n" + "\n".join(problems)


# --- Django admin: staff only, and staff alone opens no tenant -----------------------

ADMIN_FILL = {"app_label": "portal", "object_id": "1", "content_type_id": "1", "url": "nowhere/", "id": "1"}


def admin_urls() -> list[tuple[str, str]]:
    urls = []
    for route in ROUTES:
        if not isinstance(rule_for(route.name), Admin):
            continue
        if "<unnamed" in route.name:
            # The unnamed patterns are redirects and the catch-all: sweep them through a sample URL.
            url = "/" + KWARG_RE.sub(lambda m: ADMIN_FILL.get(m.group(1) or m.group(2), "x"), route.route)
            url = url.replace("^", "").replace("$", "").replace(".*", "")
        else:
            url = reverse(route.name, kwargs={k: ADMIN_FILL.get(k, "1") for k in route.kwargs})
        urls.append((route.name, url))
    return urls


def test_admin_is_closed_to_everyone_but_staff(world, alice, client):
    owner = Client()
    owner.force_login(alice)
    problems = []
    for name, url in admin_urls():
        for label, c in (("anonymous", client), ("a tenant owner (not staff)", owner)):
            for method in ("GET", "POST"):
                response = _send(c, method, url)
                if name == "admin:login":
                    ok = response.status_code == 200
                else:
                    ok = response.status_code == 302 and "/admin/" in response["Location"]
                if not ok:
                    problems.append(f"{method} {url} as {label}: {response.status_code}")
    assert not problems, "\n".join(problems)


def test_staff_and_superusers_get_no_tenant_access(world, staff, superuser):
    for user in (staff, superuser):
        c = Client()
        c.force_login(user)
        for name in ("widgets:dashboard", "portal:members", "portal:audit", "portal:api_keys"):
            assert c.get(reverse(name, kwargs={"tenant_slug": "acme"})).status_code == 404
        assert c.get(reverse("admin:index")).status_code == 200


def test_audit_events_are_read_only_in_django_admin(world, superuser, alice):
    event = AuditEvent.objects.filter(tenant__slug="acme").first()
    c = Client()
    c.force_login(superuser)
    changelist = reverse("admin:portal_auditevent_changelist")
    assert c.get(changelist).status_code == 200
    change = reverse("admin:portal_auditevent_change", args=[event.pk])
    assert c.get(change).status_code == 200  # view only
    before = AuditEvent.objects.values_list("id", "action", "target").order_by("id")
    before = list(before)
    assert c.post(change, {"action": "tampered", "target": "x"}).status_code == 403
    assert c.post(reverse("admin:portal_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    assert c.get(reverse("admin:portal_auditevent_add")).status_code == 403
    response = c.post(changelist, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"})
    assert response.status_code in (200, 302, 403)
    assert list(AuditEvent.objects.values_list("id", "action", "target").order_by("id")) == before
