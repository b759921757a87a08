"""The Encryption keys page: members read and download; admins create and retire (POST + CSRF)."""

import json
import re

from django.test import Client

from keys.models import EncryptionKey

PAGE = "/t/acme/encryption-keys/"


def test_login_required(client):
    response = client.get(PAGE)
    assert response.status_code == 302 and "/login" in response["Location"]


def test_other_tenant_is_not_found(charlie_client, enc_key_a):
    assert charlie_client.get(PAGE).status_code == 404
    assert charlie_client.get(f"{PAGE}{enc_key_a.kid}.pem").status_code == 404
    assert charlie_client.post(f"{PAGE}{enc_key_a.kid}/retire").status_code == 404
    assert charlie_client.post(f"{PAGE}new").status_code == 404


def test_viewer_reads_and_downloads_but_cannot_change(bob_client, enc_key_a):
    page = bob_client.get(PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    assert enc_key_a.kid in html and enc_key_a.fingerprint_sha256 in html
    assert "Publish this key" in html
    assert "/retire" not in html and "encryption-keys/new" not in html  # no forms for a viewer
    pem = bob_client.get(f"{PAGE}{enc_key_a.kid}.pem")
    assert pem.status_code == 200
    assert pem.content.decode() == enc_key_a.public_key_pem
    assert f'filename="{enc_key_a.kid}.pem"' in pem["Content-Disposition"]
    jwk = bob_client.get(f"{PAGE}{enc_key_a.kid}.jwk.json")
    assert jwk.status_code == 200 and jwk["Content-Type"] == "application/json"
    body = json.loads(jwk.content)
    assert body["kid"] == enc_key_a.kid and body["use"] == "enc" and body["alg"] == "RSA-OAEP-256"
    assert "d" not in body
    assert bob_client.post(f"{PAGE}new").status_code == 403
    assert bob_client.post(f"{PAGE}{enc_key_a.kid}/retire").status_code == 403
    assert EncryptionKey.objects.get(pk=enc_key_a.pk).status == "active"
    assert bob_client.get(f"{PAGE}nope.pem").status_code == 404


def test_admin_creates_rotates_and_retires(alice_client, tenant_a):
    response = alice_client.post(f"{PAGE}new")
    assert response.status_code == 302 and response["Location"] == PAGE
    first = EncryptionKey.objects.get(tenant=tenant_a)
    alice_client.post(f"{PAGE}new")
    second = EncryptionKey.objects.filter(tenant=tenant_a).exclude(pk=first.pk).get()
    html = alice_client.get(PAGE).content.decode()
    # The newest active key is the one to publish.
    publish_section = html.split('id="publish-heading"')[1].split("</section>")[0]
    assert second.kid in publish_section and first.kid not in publish_section
    assert alice_client.post(f"{PAGE}{second.kid}/retire").status_code == 302
    second.refresh_from_db()
    assert second.status == "retired"
    html = alice_client.get(PAGE).content.decode()
    assert first.kid in html.split('id="publish-heading"')[1].split("</section>")[0]
    assert "no longer decrypts" in html


def test_get_cannot_change_anything(alice_client, enc_key_a):
    assert alice_client.get(f"{PAGE}new").status_code == 405
    assert alice_client.get(f"{PAGE}{enc_key_a.kid}/retire").status_code == 405
    assert alice_client.post(f"{PAGE}{enc_key_a.kid}.pem").status_code == 405


def test_csrf_is_enforced(alice, enc_key_a):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(f"{PAGE}new").status_code == 403
    assert client.post(f"{PAGE}{enc_key_a.kid}/retire").status_code == 403
    page = client.get(PAGE)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    assert client.post(f"{PAGE}new", {"csrfmiddlewaretoken": token}).status_code == 302


def test_no_inline_script_or_style_and_no_private_material(alice_client, enc_key_a):
    html = alice_client.get(PAGE).content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "style=" not in html and "<style" not in html
    assert not re.search(r"\son[a-z]+=", html)
    assert "PRIVATE KEY" not in html and enc_key_a.private_key_encrypted not in html


def test_empty_state(alice_client, bob_client):
    assert "No active encryption key" in alice_client.get(PAGE).content.decode()
    assert "an admin creates a key" in bob_client.get(PAGE).content.decode()


def test_query_count(alice_client, enc_key_a, django_assert_num_queries):
    alice_client.get(PAGE)  # warm: session row exists
    # 1 session, 2 user, 3 membership+tenant, 4 encryption keys, 5 the base template's
    # tenant switcher, 6-8 session save (inactivity timeout) in a savepoint.
    with django_assert_num_queries(8):
        alice_client.get(PAGE)
