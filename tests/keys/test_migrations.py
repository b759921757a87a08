"""keys.0002: fingerprints go from colon-separated hex to what `sha256sum` prints, and back."""

import hashlib

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from keys.models import EncryptionKey, SigningKey
from keys.platform import encryption_key_create
from keys.services import signing_key_register

pytestmark = pytest.mark.django_db(transaction=True)


def spki_der(pair) -> bytes:
    return pair.private_key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def migrate(app: str, name: str) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([(app, name)])


def test_fingerprints_lose_their_colons_and_get_them_back(widget_a, tenant_a, ec_key, rsa_key):
    signing = [signing_key_register(widget=widget_a, public_key=pair.public_pem)[0] for pair in (ec_key, rsa_key)]
    encryption = encryption_key_create(tenant=tenant_a)
    expected = {key.pk: key.fingerprint_sha256 for key in signing}
    assert expected[signing[0].pk] == hashlib.sha256(spki_der(ec_key)).hexdigest()
    try:
        migrate("keys", "0001_initial")
        before = dict(SigningKey.objects.values_list("pk", "fingerprint_sha256"))
        assert before == {pk: ":".join(fp[i : i + 2] for i in range(0, 64, 2)) for pk, fp in expected.items()}
        assert EncryptionKey.objects.get(pk=encryption.pk).fingerprint_sha256.count(":") == 31
    finally:
        migrate("keys", "0002_fingerprints_plain_hex")
    assert dict(SigningKey.objects.values_list("pk", "fingerprint_sha256")) == expected
    assert EncryptionKey.objects.get(pk=encryption.pk).fingerprint_sha256 == encryption.fingerprint_sha256
    assert len(encryption.fingerprint_sha256) == 64 and ":" not in encryption.fingerprint_sha256
