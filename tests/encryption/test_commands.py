"""manage.py rotate_kek / rotate_session_key: one transaction, one-line summary, one-line failure."""

import base64
import io
import secrets

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from keys import kek, platform
from keys.models import EncryptionKey, SessionSigningKey


def new_kek() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


K1, K2, K3 = new_kek(), new_kek(), new_kek()


def _rows():
    return dict(EncryptionKey.objects.values_list("kid", "private_key_encrypted")) | dict(
        SessionSigningKey.objects.values_list("kid", "private_key_encrypted")
    )


def _decrypts(tenant, token) -> bool:
    platform._keyrings.clear()
    platform._decrypter.cache_clear()
    return platform.decrypt_interaction_data(tenant_id=tenant.pk, token=token, max_bytes=16384) == "a.b.c"


def test_rotate_kek_re_encrypts_everything(tenant_a, tenant_b):
    with override_settings(SIGNET_KEK=K1, SIGNET_KEK_PREVIOUS=[]):
        platform.encryption_key_create(tenant=tenant_a)
        platform.encryption_key_create(tenant=tenant_b)
        platform.session_key_create()
        token = platform.encrypt_for_tenant(tenant_a, "a.b.c")
        before = _rows()
    with override_settings(SIGNET_KEK=K2, SIGNET_KEK_PREVIOUS=[K1]):
        out = io.StringIO()
        call_command("rotate_kek", stdout=out)
        new_id = kek.keyring().current.id
        assert out.getvalue() == f"Re-encrypted 2 encryption key(s) and 1 session key(s) under KEK {new_id}.\n"
        after = _rows()
        assert set(after) == set(before)
        assert all(value.startswith(f"v1:{new_id}:") for value in after.values())
        assert all(after[kid] != before[kid] for kid in after)
        assert _decrypts(tenant_a, token)
    # The old KEK is no longer needed.
    with override_settings(SIGNET_KEK=K2, SIGNET_KEK_PREVIOUS=[]):
        assert _decrypts(tenant_a, token)


def test_rotate_kek_is_all_or_nothing(tenant_a):
    with override_settings(SIGNET_KEK=K1, SIGNET_KEK_PREVIOUS=[]):
        platform.encryption_key_create(tenant=tenant_a)
    with override_settings(SIGNET_KEK=K2, SIGNET_KEK_PREVIOUS=[]):
        platform.encryption_key_create(tenant=tenant_a)  # this one would re-encrypt fine...
        before = _rows()
    with override_settings(SIGNET_KEK=K3, SIGNET_KEK_PREVIOUS=[K2]):  # ...but K1 is missing
        with pytest.raises(CommandError) as info:
            call_command("rotate_kek", stdout=io.StringIO())
    message = str(info.value)
    assert "\n" not in message and message.startswith("KEK rotation failed, nothing changed:")
    assert "neither SIGNET_KEK nor listed in SIGNET_KEK_PREVIOUS" in message
    for secret in (K1, K2, K3):
        assert secret not in message
    assert _rows() == before


def test_rotate_kek_off_the_development_kek(tenant_a):
    with override_settings(SIGNET_KEK="", SIGNET_KEK_PREVIOUS=[]):
        platform.encryption_key_create(tenant=tenant_a)
        token = platform.encrypt_for_tenant(tenant_a, "a.b.c")
    with override_settings(SIGNET_KEK=K1, SIGNET_KEK_PREVIOUS=[]):
        with pytest.raises(CommandError):
            call_command("rotate_kek", stdout=io.StringIO())
        call_command("rotate_kek", "--from-development-kek", stdout=io.StringIO())
        assert _decrypts(tenant_a, token)


def test_rotate_kek_with_a_malformed_kek_fails_in_one_line(tenant_a):
    with override_settings(SIGNET_KEK="not-a-kek"), pytest.raises(CommandError) as info:
        call_command("rotate_kek", stdout=io.StringIO())
    assert "\n" not in str(info.value) and "SIGNET_KEK must be 32 random bytes" in str(info.value)


def test_a_key_whose_kek_is_gone_cannot_decrypt_but_does_not_crash(tenant_a):
    with override_settings(SIGNET_KEK=K1, SIGNET_KEK_PREVIOUS=[]):
        platform.encryption_key_create(tenant=tenant_a)
        token = platform.encrypt_for_tenant(tenant_a, "a.b.c")
    with override_settings(SIGNET_KEK=K2, SIGNET_KEK_PREVIOUS=[]):
        from keys import engine

        with pytest.raises(engine.VerificationError) as info:
            _decrypts(tenant_a, token)
        assert info.value.code == "decryption_failed"
