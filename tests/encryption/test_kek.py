"""keys/kek.py: sealing private keys under the key-encryption key from the environment."""

import base64
import logging
import secrets

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from keys import kek


def new_kek() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


K1, K2, K3 = new_kek(), new_kek(), new_kek()


@override_settings(SIGNET_KEK=K1, SIGNET_KEK_PREVIOUS=[])
def test_seal_format_and_round_trip():
    sealed = kek.seal(b"pkcs8 bytes", aad=b"signet:enc:1:enc-a")
    version, kek_id, blob = sealed.split(":", 2)
    assert version == "v1"
    assert kek_id == kek.kek_id(base64.urlsafe_b64decode(K1)) and len(kek_id) == 12
    assert b"pkcs8 bytes" not in base64.urlsafe_b64decode(blob + "==")
    assert kek.unseal(sealed, aad=b"signet:enc:1:enc-a") == b"pkcs8 bytes"
    assert kek.is_current(sealed)


@override_settings(SIGNET_KEK=K1, SIGNET_KEK_PREVIOUS=[])
def test_a_sealed_value_is_bound_to_its_row_and_untouchable():
    sealed = kek.seal(b"secret", aad=b"signet:enc:1:enc-a")
    with pytest.raises(kek.KekError, match="sealed for another row"):
        kek.unseal(sealed, aad=b"signet:enc:2:enc-a")
    head, blob = sealed.rsplit(":", 1)
    flipped = blob[:-2] + ("A" if blob[-2] != "A" else "B") + blob[-1]
    with pytest.raises(kek.KekError):
        kek.unseal(f"{head}:{flipped}", aad=b"signet:enc:1:enc-a")
    with pytest.raises(kek.KekError):
        kek.unseal("v2:" + sealed[3:], aad=b"signet:enc:1:enc-a")


def test_previous_keks_open_and_unknown_ones_are_named():
    with override_settings(SIGNET_KEK=K1, SIGNET_KEK_PREVIOUS=[]):
        sealed = kek.seal(b"secret", aad=b"x")
    with override_settings(SIGNET_KEK=K2, SIGNET_KEK_PREVIOUS=[K1]):
        assert kek.unseal(sealed, aad=b"x") == b"secret"
        assert not kek.is_current(sealed)
    with override_settings(SIGNET_KEK=K3, SIGNET_KEK_PREVIOUS=[K2]):
        with pytest.raises(kek.KekError) as info:
            kek.unseal(sealed, aad=b"x")
        assert kek.sealed_kek_id(sealed) in str(info.value)
        assert K1 not in str(info.value)


@pytest.mark.parametrize("bad", ["short", base64.urlsafe_b64encode(b"x" * 16).decode(), "!" * 44])
def test_a_malformed_kek_refuses_with_instructions(bad):
    with override_settings(SIGNET_KEK=bad), pytest.raises(ImproperlyConfigured, match=r"secrets\.token_bytes"):
        kek.check()


def test_development_kek_is_derived_and_announced_once(caplog):
    kek._warned.clear()
    with override_settings(SIGNET_KEK="", SIGNET_KEK_PREVIOUS=[], SECRET_KEY="s" * 50):
        with caplog.at_level(logging.WARNING, logger="signet.kek"):
            first = kek.seal(b"secret", aad=b"x")
            kek.seal(b"secret", aad=b"x")
        assert kek.keyring().current.development
        assert kek.sealed_kek_id(first) == kek.development_kek("s" * 50).id
    warnings = [r for r in caplog.records if r.name == "signet.kek"]
    assert [r.getMessage() for r in warnings] == ["development KEK derived from SECRET_KEY; set SIGNET_KEK"]
    # Another SECRET_KEY derives another KEK: the value does not open.
    with override_settings(SIGNET_KEK="", SECRET_KEY="t" * 50), pytest.raises(kek.KekError):
        kek.unseal(first, aad=b"x")


def test_keks_never_appear_in_reprs():
    with override_settings(SIGNET_KEK=K1, SIGNET_KEK_PREVIOUS=[K2]):
        ring = kek.keyring()
        text = repr(ring) + repr(ring.current)
    for secret in (K1, K2):
        assert secret not in text
        assert repr(base64.urlsafe_b64decode(secret)) not in text
