"""Each role can do exactly what it should, with valid input (the sweep uses empty input).

owner:     members and everything below
admin:     widgets, keys, allowlists, API keys, encryption keys
developer: read everything; test keys only on widgets that allow them
viewer:    read only
"""

import pytest
from django.test import Client

from keys.models import EncryptionKey, KeyStatus, SigningKey
from portal.models import ApiKey, Invitation, Membership, Role
from widgets.models import UnsignedField, Widget

RANK = [Role.VIEWER, Role.DEVELOPER, Role.ADMIN, Role.OWNER]
PEOPLE = {"bob": Role.VIEWER, "dave": Role.DEVELOPER, "erin": Role.ADMIN, "alice": Role.OWNER}


def _settings(leeway):
    return {
        "name": "Acme chat",
        "enforcement": "off",
        "leeway_seconds": str(leeway),
        "session_subject_claim": "sub",
        "max_lifetime_seconds": "86400",
    }


def _actions(world, ec_key_2):
    w = world["a"]["widget_id"]
    enc = world["a"]["enc_kid"]
    return {
        # name: (lowest role, method, url, data, "did it happen?")
        "create a widget": (
            Role.ADMIN,
            "/t/acme/widgets/new",
            {"name": "Brand new", "enforcement": "off"},
            lambda: Widget.objects.filter(name="Brand new").exists(),
        ),
        "change widget policy": (
            Role.ADMIN,
            f"/t/acme/widgets/{w}/settings",
            _settings(17),
            lambda: Widget.objects.get(public_id=w).leeway_seconds == 17,
        ),
        "register a signing key": (
            Role.ADMIN,
            f"/t/acme/widgets/{w}/keys/add",
            {"public_key": ec_key_2.public_pem, "kid": "role-key", "name": ""},
            lambda: SigningKey.objects.filter(kid="role-key").exists(),
        ),
        "revoke a signing key": (
            Role.ADMIN,
            f"/t/acme/widgets/{w}/keys/{world['a']['kid']}/revoke",
            {"reason": "rotation", "confirm": "on"},
            lambda: SigningKey.objects.get(kid=world["a"]["kid"]).status == KeyStatus.REVOKED,
        ),
        "add to the allowlist": (
            Role.ADMIN,
            f"/t/acme/widgets/{w}/allowlist/add",
            {"label": "plan", "note": ""},
            lambda: UnsignedField.objects.filter(label="plan").exists(),
        ),
        "create an API key": (
            Role.ADMIN,
            "/t/acme/api-keys/",
            {"name": "role-made"},
            lambda: ApiKey.objects.filter(name="role-made").exists(),
        ),
        "revoke an API key": (
            Role.ADMIN,
            f"/t/acme/api-keys/{world['a']['prefix']}/revoke",
            {},
            lambda: ApiKey.objects.get(prefix=world["a"]["prefix"]).revoked_at is not None,
        ),
        "create an encryption key": (
            Role.ADMIN,
            "/t/acme/encryption-keys/new",
            {},
            lambda: EncryptionKey.objects.filter(tenant__slug="acme").count() == 2,
        ),
        "retire an encryption key": (
            Role.ADMIN,
            f"/t/acme/encryption-keys/{enc}/retire",
            {"confirm": "on"},
            lambda: EncryptionKey.objects.get(kid=enc).status == "retired",
        ),
        "invite a member": (
            Role.OWNER,
            "/t/acme/members/invite",
            {"email": "role@example.com", "role": "viewer"},
            lambda: Invitation.objects.filter(email="role@example.com").exists(),
        ),
        "change a member's role": (
            Role.OWNER,
            f"/t/acme/members/{world['a']['membership_id']}/role",
            {"role": "developer"},
            lambda: Membership.objects.get(pk=world["a"]["membership_id"]).role == Role.DEVELOPER,
        ),
        "remove a member": (
            Role.OWNER,
            f"/t/acme/members/{world['a']['membership_id']}/remove",
            {},
            lambda: not Membership.objects.filter(pk=world["a"]["membership_id"]).exists(),
        ),
    }


ACTION_NAMES = [
    "create a widget",
    "change widget policy",
    "register a signing key",
    "revoke a signing key",
    "add to the allowlist",
    "create an API key",
    "revoke an API key",
    "create an encryption key",
    "retire an encryption key",
    "invite a member",
    "change a member's role",
    "remove a member",
]


@pytest.mark.parametrize("who", list(PEOPLE))
@pytest.mark.parametrize("action", ACTION_NAMES)
def test_who_may_change_what(action, who, world, ec_key_2, request):
    needed, url, data, happened = _actions(world, ec_key_2)[action]
    client = Client()
    client.force_login(request.getfixturevalue(who))
    assert not happened()
    response = client.post(url, data)
    allowed = RANK.index(PEOPLE[who]) >= RANK.index(needed)
    if allowed:
        assert response.status_code in (200, 302), response.status_code
        assert happened(), f"{who} should be able to {action}"
    else:
        assert response.status_code == 403
        assert not happened(), f"{who} must not be able to {action}"


READ_PAGES = ["/t/acme/", "/t/acme/widgets/{w}/", "/t/acme/api-keys/", "/t/acme/audit/", "/t/acme/encryption-keys/"]


@pytest.mark.parametrize("who", list(PEOPLE))
def test_every_role_reads_everything_but_the_members(who, world, request):
    client = Client()
    client.force_login(request.getfixturevalue(who))
    for url in READ_PAGES:
        assert client.get(url.replace("{w}", world["a"]["widget_id"])).status_code == 200, url
    assert client.get("/t/acme/members/").status_code == (200 if who == "alice" else 403)


def test_developers_register_test_keys_only_where_the_widget_allows(world, dave_client, ec_key_2, widget_a):
    url = f"/t/acme/widgets/{widget_a.public_id}/keys/add"
    data = {"public_key": ec_key_2.public_pem, "kid": "dev-key", "name": ""}
    assert dave_client.post(url, data).status_code == 403
    assert not SigningKey.objects.filter(kid="dev-key").exists()
    Widget.objects.filter(pk=widget_a.pk).update(allow_developer_test_keys=True)
    data["is_test"] = ""  # a developer cannot ask for a production key
    response = dave_client.post(url, data)
    assert response.status_code == 302
    key = SigningKey.objects.get(kid="dev-key")
    assert key.is_test


def test_viewer_sees_no_change_controls(world, bob_client):
    text = bob_client.get(f"/t/acme/widgets/{world['a']['widget_id']}/").content.decode()
    main = text.split("<main", 1)[1]
    assert "/keys/add" not in main and "/settings" not in main and "/allowlist/add" not in main
