"""The playground under hostile input: no 500, a clear message, and a pasted private key never comes back."""

import json
import re
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.playground.test_playground_views import _assert_key_absent, _sign, b64url, post, text_of

HEADER = b64url(b'{"alg":"ES256"}')


def _token(payload: bytes, header: str = HEADER) -> str:
    return f"{header}.{b64url(payload)}.AAAA"


def _form(mode, widget, token):
    return {"mode": mode, "widget": widget.public_id, "token": token}


# --- times that are not finite numbers (the lenient view re-reads what the strict parser refused) ---


@pytest.mark.parametrize("mode", ["decode", "verify"])
@pytest.mark.parametrize(
    ("payload", "claim"),
    [
        (b'{"exp":NaN}', "exp"),
        (b'{"exp":-Infinity}', "exp"),
        (b'{"exp":Infinity}', "exp"),
        (b'{"exp":1e400}', "exp"),
        (b'{"exp":-Infinity,"iat":-Infinity}', "iat"),
        (b'{"exp":1,"iat":NaN}', "iat"),
        (b'{"nbf":NaN}', "nbf"),
        (b'{"exp":-' + b"9" * 400 + b"}", "exp"),
    ],
)
def test_non_finite_times_are_explained(alice_client, widget_a, registered_ec, mode, payload, claim):
    response = post(alice_client, _form(mode, widget_a, _token(payload)))
    assert response.status_code == 200
    assert f"{claim} is not a finite number" in text_of(response)


# --- lone UTF-16 surrogates (valid JSON escapes, not valid Unicode) ------------------------------


@pytest.mark.parametrize("mode", ["decode", "verify"])
def test_lone_surrogate_in_a_token_is_explained(alice_client, widget_a, registered_ec, mode):
    response = post(alice_client, _form(mode, widget_a, _token(b'{"sub":"\\ud800","exp":1}')))
    assert response.status_code == 200
    page = text_of(response)
    assert "The payload holds a lone UTF-16 surrogate (\\ud800), which is not valid Unicode" in page

    header = b64url(b'{"alg":"ES256","kid":"\\udc00"}')
    response = post(alice_client, _form(mode, widget_a, _token(b"{}", header=header)))
    assert response.status_code == 200
    assert "The header holds a lone UTF-16 surrogate (\\udc00)" in text_of(response)


@pytest.mark.parametrize("unsigned", ['{"\\ud800": 1}', '{"page": "\\udfff"}', '[{"label":"x","data":"\\ud800"}]'])
def test_lone_surrogate_in_unsigned_data_is_refused(alice_client, widget_a, unsigned):
    response = post(
        alice_client, {"mode": "verify", "widget": widget_a.public_id, "token": "", "unsigned_data": unsigned}
    )
    assert response.status_code == 400
    assert "unsigned_data holds a lone UTF-16 surrogate" in response.context["verify_errors"]["unsigned"]


def test_unsigned_data_with_a_huge_integer_is_refused(alice_client, widget_a):
    unsigned = '{"x": ' + "9" * 5000 + "}"  # json.loads raises a ValueError without a line number
    response = post(
        alice_client, {"mode": "verify", "widget": widget_a.public_id, "token": "", "unsigned_data": unsigned}
    )
    assert response.status_code == 400
    assert "too many digits" in response.context["verify_errors"]["unsigned"]


@pytest.mark.parametrize(
    ("who", "mode"), [("alice_client", "decode"), ("alice_client", "verify"), ("bob_client", "decode")]
)
def test_lone_surrogate_in_a_jwe_header_is_explained(request, widget_a, who, mode):
    header = b64url(b'{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"\\ud800"}')
    token = f"{header}.{'A' * 342}.AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA"
    response = post(request.getfixturevalue(who), _form(mode, widget_a, token))
    assert response.status_code == 200
    assert "The protected header holds a lone UTF-16 surrogate (\\ud800)" in text_of(response)


@pytest.mark.parametrize("action", ["set-iat", "set-exp", "set-jti"])
def test_lone_surrogate_in_the_sign_helpers_is_refused(alice_client, widget_a, action):
    payload = '{"sub":"\\ud800"}'
    response = post(alice_client, {"mode": "sign", "widget": widget_a.public_id, "action": action, "payload": payload})
    assert response.status_code == 400
    assert "The payload holds a lone UTF-16 surrogate (\\ud800)" in response.context["sign_errors"]["payload"]
    assert response.context["sign"]["payload"] == payload  # unchanged


def test_lone_surrogate_in_a_payload_to_sign_is_refused(alice_client, widget_a, ec_key):
    response = _sign(alice_client, widget_a, ec_key.private_pem, '{"sub":"\\ud800"}')
    assert response.status_code == 400
    assert "lone UTF-16 surrogate (\\ud800)" in response.context["sign_errors"]["payload"]
    _assert_key_absent(response.content.decode(), ec_key.private_pem)


# --- any failure while signing becomes a form error, without the key -----------------------------


@pytest.mark.parametrize("where", ["sign_compact", "public_facts_of_private_pem"])
def test_unexpected_signing_failure_is_a_form_error(alice_client, widget_a, ec_key, monkeypatch, where):
    from keys import jose

    def broken(*args, **kwargs):
        raise RuntimeError("the signing library broke")

    monkeypatch.setattr(jose, where, broken)
    response = _sign(alice_client, widget_a, ec_key.private_pem, '{"sub": "x"}')
    assert response.status_code == 400
    assert "Signing failed" in response.context["sign_errors"]["private_key"]
    assert "Signing failed" in text_of(response)
    _assert_key_absent(response.content.decode(), ec_key.private_pem)


def test_error_reports_mask_the_key_in_every_signing_frame(alice_client, widget_a, ec_key, monkeypatch):
    """Were an exception to escape while signing, Django's report of each frame down to the view hides the key."""
    from django.views.debug import SafeExceptionReporterFilter

    from keys import jose

    shown = []

    def sign_compact(payload_json_text, private_key_pem, **kwargs):
        frame = sys._getframe()
        while frame is not None:
            shown.extend(repr(v) for _, v in SafeExceptionReporterFilter().get_traceback_frame_variables(None, frame))
            if frame.f_code.co_name == "playground":
                break
            frame = frame.f_back
        raise RuntimeError("boom")

    monkeypatch.setattr(jose, "sign_compact", sign_compact)
    _sign(alice_client, widget_a, ec_key.private_pem, '{"sub": "x"}')
    assert shown
    _assert_key_absent("\n".join(shown).replace("\\n", "\n"), ec_key.private_pem)


# --- private key material without PEM armour is not echoed either --------------------------------


def _bare_bodies():
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    rsa_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
        .decode()
    )
    lines = ec_pem.splitlines()[1:-1]
    return {
        "ec one line": "".join(lines),
        "ec with line breaks": "\n".join(lines),
        "ec with CRLF": "\r\n".join(lines) + "\r\n",
        "rsa pkcs1 with line breaks": "\n".join(rsa_pem.splitlines()[1:-1]),
        # armour with a label no pattern knows, lines joined by literal \n (as pasted from JSON)
        "escaped, odd label": ec_pem.replace("PRIVATE KEY", "PRIVATE_KEY").replace("\n", "\\n"),
        "after prose": "my key, do not share:\n" + "\n".join(lines),
    }


BARE = _bare_bodies()


def _key_lines(text: str) -> list[str]:
    """The base64 lines of a key in `text` (split at white space and at literal \\n)."""
    lines = [word for word in re.split(r"\s+|\\n", text) if len(word) >= 16 and "-----" not in word]
    assert lines
    return lines


def _where(box, widget, text):
    return {
        "decode token": {"mode": "decode", "token": text},
        "verify token": {"mode": "verify", "widget": widget.public_id, "token": text},
        "verify unsigned": {"mode": "verify", "widget": widget.public_id, "token": "", "unsigned_data": text},
        "sign payload": {"mode": "sign", "widget": widget.public_id, "action": "sign", "payload": text},
        "sign kid": {"mode": "sign", "widget": widget.public_id, "action": "sign", "payload": "{}", "kid": text},
        "encrypt payload": {"mode": "encrypt", "widget": widget.public_id, "token": "a.b.c", "payload": text},
    }[box]


@pytest.mark.parametrize("box", ["decode token", "verify token", "verify unsigned", "sign payload", "sign kid"])
@pytest.mark.parametrize("form", list(BARE))
def test_unarmoured_private_key_is_not_sent_back(alice_client, widget_a, box, form):
    text = BARE[form]
    response = post(alice_client, _where(box, widget_a, text))
    assert response.status_code == 400
    page = response.content.decode()
    for line in _key_lines(text):
        assert line not in page, "a line of the private key came back"
    assert "This is private key material" in text_of(response)
    assert "treat it as exposed and replace it" in text_of(response)


def test_unarmoured_private_key_in_the_encrypt_payload_is_not_sent_back(alice_client, widget_a):
    text = BARE["ec with line breaks"]
    response = post(alice_client, _where("encrypt payload", widget_a, text))
    page = response.content.decode()
    for line in _key_lines(text):
        assert line not in page, "a line of the private key came back"


def test_a_token_is_not_mistaken_for_a_private_key(alice_client, widget_a, registered_ec, ec_key, fields_payload):
    token = ec_key.sign(fields_payload, headers={"kid": "site-1"})
    response = post(alice_client, _form("verify", widget_a, token))
    assert response.status_code == 200 and response.context["result"]["verified"] is True
    response = post(alice_client, _form("decode", widget_a, token))
    assert response.status_code == 200
    response = _sign(alice_client, widget_a, ec_key.private_pem, json.dumps(fields_payload), kid="site-1")
    assert response.status_code == 200
