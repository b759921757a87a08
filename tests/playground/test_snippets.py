"""widgets/snippets.py: the code is filled in for the widget, and the Python snippets really work.

The Python snippets are run as written (in a subprocess, with the key file they
expect) and their tokens go through the production verify API.
"""

import subprocess
import sys

import pytest

from keys.services import signing_key_register, signing_key_revoke
from widgets import snippets


def run_snippet(code: str, private_pem: str, tmp_path) -> str:
    (tmp_path / "private.pem").write_text(private_pem)
    script = tmp_path / "snippet.py"
    script.write_text(code + "\nprint(token)\n")
    # Our own snippet, run with this interpreter.
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("slug", ["python-jose", "pyjwt"])
@pytest.mark.parametrize("fmt", ["claims", "fields"])
def test_python_snippets_make_tokens_the_api_accepts(api_a, widget_a, registered_ec, ec_key, tmp_path, slug, fmt):
    chosen = snippets.snippets_for(widget=widget_a, keys=[registered_ec], fmt=fmt)
    code = next(s.code for s in chosen.items if s.slug == slug)
    token = run_snippet(code, ec_key.private_pem, tmp_path)
    status, body = api_a.post(f"/api/v1/widgets/{widget_a.public_id}/verify", {"signed_interaction_data": token})
    assert status == 200, body
    assert body["verified"] is True and body["kid"] == "site-1"
    labels = [f["label"] for f in body["fields"]]
    assert labels == (["name", "isLoggedIn", "email"] if fmt == "claims" else ["name", "customer_id", "logged_in"])


def test_rsa_widget_gets_rsa_code(api_a, widget_a, rsa_key, tmp_path):
    key, _ = signing_key_register(widget=widget_a, public_key=rsa_key.public_pem, kid="rsa-1")
    chosen = snippets.snippets_for(widget=widget_a, keys=[key])
    assert (chosen.alg, chosen.kid, chosen.key_type) == ("RS256", "rsa-1", "RSA")
    by_slug = {s.slug: s for s in chosen.items}
    assert "rsa_keygen_bits:3072" in by_slug["openssl"].code
    assert "RSASSASigner" in by_slug["java"].code and 'KeyFactory.getInstance("RSA")' in by_slug["java"].code
    assert "Algorithm\\RS256" in by_slug["php"].code
    assert 'importPKCS8(readFileSync("private.pem", "utf8"), "RS256")' in by_slug["node"].code
    # No DER pitfall for RSA, where it does not exist.
    assert not any("R‖S" in s.note for s in chosen.items if s.slug != "openssl")
    token = run_snippet(by_slug["pyjwt"].code, rsa_key.private_pem, tmp_path)
    status, body = api_a.post(f"/api/v1/widgets/{widget_a.public_id}/verify", {"signed_interaction_data": token})
    assert status == 200 and body["kid"] == "rsa-1", body


def test_ec_snippets_warn_about_der(widget_a, registered_ec):
    chosen = snippets.snippets_for(widget=widget_a, keys=[registered_ec], base_url="https://portal.example")
    by_slug = {s.slug: s for s in chosen.items}
    assert set(by_slug) == {"openssl", "python-jose", "pyjwt", "node", "php", "java", "curl"}
    for slug in ("pyjwt", "node", "php", "java"):
        assert "DER" in by_slug[slug].note and "64 bytes for ES256" in by_slug[slug].note
    assert "ec_paramgen_curve:P-256" in by_slug["openssl"].code
    assert "SHA256withECDSA" in by_slug["java"].note
    assert 'dsaEncoding: "ieee-p1363"' in by_slug["node"].note
    assert "https://portal.example/api/v1/widgets/" + widget_a.public_id in by_slug["curl"].code
    for item in chosen.items:
        assert "@@" not in item.code
    assert all(widget_a.public_id in by_slug[s].code for s in ("openssl", "curl"))
    assert all("site-1" in by_slug[s].code for s in ("python-jose", "pyjwt", "node", "php", "java"))


def test_newest_active_key_is_used_and_placeholders_without_one(widget_a, ec_key, ec_key_2, ec384_key):
    first, _ = signing_key_register(widget=widget_a, public_key=ec_key.public_pem, kid="old")
    second, _ = signing_key_register(widget=widget_a, public_key=ec384_key.public_pem, kid="new-384")
    from keys.selectors import signing_keys_of

    chosen = snippets.snippets_for(widget=widget_a, keys=list(signing_keys_of(widget=widget_a)))
    assert (chosen.kid, chosen.alg, chosen.placeholder) == ("new-384", "ES384", False)
    assert "ec_paramgen_curve:P-384" in chosen.items[0].code
    signing_key_revoke(key=second)
    signing_key_revoke(key=first)
    chosen = snippets.snippets_for(widget=widget_a, keys=list(signing_keys_of(widget=widget_a)))
    assert chosen.placeholder is True and chosen.kid == snippets.PLACEHOLDER_KID
    chosen = snippets.snippets_for(widget=None, keys=[])
    assert chosen.widget_id == snippets.PLACEHOLDER_WIDGET
