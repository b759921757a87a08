"""Tokens made the way customers make them verify: PyJWT, jwcrypto, python-jose, Node's crypto,
and the openssl command line from the setup guide. Database-free.
"""

import json
import shutil
import subprocess
import time
import uuid

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from keys import engine
from keys.engine import Policy, VerificationError
from tests.keys.test_engine import b64, candidate

OPENSSL = shutil.which("openssl")
NODE = shutil.which("node")


def claims():
    now = int(time.time())
    return {"name": "Jane Doe", "isLoggedIn": True, "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex}


def verify(token, pem, kid="site-1"):
    return engine.verify(token, keys=[candidate(pem, kid=kid)], policy=Policy(), now=time.time())


# --- libraries -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "alg"),
    [("ec_key", "ES256"), ("ec384_key", "ES384"), ("rsa_key", "RS256"), ("rsa_key", "RS384"), ("rsa_key", "RS512")],
)
@pytest.mark.parametrize("with_kid", [True, False])
def test_pyjwt(request, fixture, alg, with_kid):
    keypair = request.getfixturevalue(fixture)
    body = claims()
    token = pyjwt.encode(body, keypair.private_pem, algorithm=alg, headers={"kid": "site-1"} if with_kid else None)
    result = verify(token, keypair.public_pem)
    assert result.alg == alg
    assert result.claims["jti"] == body["jti"]
    assert result.fields == [
        {"label": "name", "data": "Jane Doe", "type": "string"},
        {"label": "isLoggedIn", "data": True, "type": "boolean"},
    ]


def test_pyjwt_fields_array(ec_key):
    fields = [{"label": "plan", "data": "gold", "type": "string"}, {"label": "cart", "data": [1, 2], "type": "json"}]
    token = pyjwt.api_jws.encode(json.dumps(fields).encode(), ec_key.private_key, algorithm="ES256")
    assert verify(token, ec_key.public_pem).fields == fields


@pytest.mark.parametrize(("fixture", "alg"), [("ec_key", "ES256"), ("ec384_key", "ES384"), ("rsa_key", "RS512")])
def test_jwcrypto(request, fixture, alg):
    from jwcrypto import jwk, jwt

    keypair = request.getfixturevalue(fixture)
    key = jwk.JWK.from_pem(keypair.private_pem.encode())
    token = jwt.JWT(header={"alg": alg, "kid": "site-1"}, claims=claims())
    token.make_signed_token(key)
    assert verify(token.serialize(), keypair.public_pem).alg == alg


@pytest.mark.parametrize(("fixture", "alg"), [("ec_key", "ES256"), ("rsa_key", "RS256")])
def test_python_jose_as_a_client(request, fixture, alg):
    from jose import jwt

    keypair = request.getfixturevalue(fixture)
    token = jwt.encode(claims(), keypair.private_pem, algorithm=alg, headers={"kid": "site-1"})
    assert verify(token, keypair.public_pem).alg == alg


NODE_SCRIPT = r"""
const crypto = require('crypto');
const pem = require('fs').readFileSync(0, 'utf8');
const alg = process.argv[1];
const b64 = (b) => Buffer.from(b).toString('base64url');
const now = Math.floor(Date.now() / 1000);
const header = b64(JSON.stringify({alg, typ: 'JWT', kid: 'site-1'}));
const payload = b64(JSON.stringify({name: 'Jane Doe', iat: now, exp: now + 300, jti: crypto.randomUUID()}));
const hash = {ES256: 'sha256', ES384: 'sha384', RS256: 'sha256'}[alg];
const key = crypto.createPrivateKey(pem);
const sig = crypto.sign(hash, Buffer.from(header + '.' + payload), {key, dsaEncoding: 'ieee-p1363'});
process.stdout.write(header + '.' + payload + '.' + b64(sig));
"""


@pytest.mark.skipif(NODE is None, reason="node is not installed")
@pytest.mark.parametrize(("fixture", "alg"), [("ec_key", "ES256"), ("ec384_key", "ES384"), ("rsa_key", "RS256")])
def test_node_crypto(request, fixture, alg):
    keypair = request.getfixturevalue(fixture)
    done = subprocess.run(
        [NODE, "-e", NODE_SCRIPT, alg], input=keypair.private_pem, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-500:]
    token = done.stdout
    assert verify(token, keypair.public_pem).fields == [{"label": "name", "data": "Jane Doe", "type": "string"}]


# --- the openssl command line, as in the setup guide -----------------------------------------


def run(*args, cwd):
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, timeout=60)


def signing_input(alg: str) -> str:
    header = b64(json.dumps({"alg": alg, "typ": "JWT"}, separators=(",", ":")))
    return f"{header}.{b64(json.dumps(claims(), separators=(',', ':')))}"


@pytest.fixture
def openssl_ec(tmp_path):
    run(OPENSSL, "ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", "ec_private.pem", cwd=tmp_path)
    run(OPENSSL, "ec", "-in", "ec_private.pem", "-pubout", "-out", "ec_public.pem", cwd=tmp_path)
    return tmp_path


@pytest.fixture
def openssl_rsa(tmp_path):
    run(OPENSSL, "genrsa", "-out", "private.pem", "2048", cwd=tmp_path)
    run(OPENSSL, "rsa", "-in", "private.pem", "-outform", "PEM", "-pubout", "-out", "public.pem", cwd=tmp_path)
    return tmp_path


def openssl_sign(directory, private: str, digest: str, text: str) -> bytes:
    (directory / "input.txt").write_text(text)
    run(OPENSSL, "dgst", f"-{digest}", "-sign", private, "-out", "sig.bin", "input.txt", cwd=directory)
    return (directory / "sig.bin").read_bytes()


@pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")
def test_openssl_ec_key_with_der_converted_to_r_s(openssl_ec):
    public_pem = (openssl_ec / "ec_public.pem").read_text()
    text = signing_input("ES256")
    der = openssl_sign(openssl_ec, "ec_private.pem", "sha256", text)
    r, s = decode_dss_signature(der)
    token = f"{text}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
    assert verify(token, public_pem).alg == "ES256"
    # the raw `openssl dgst` output, as people first try it: refused, and told why
    with pytest.raises(VerificationError) as info:
        verify(f"{text}.{b64(der)}", public_pem)
    assert info.value.code == "bad_signature"
    assert "This signature is DER-encoded; JWS needs the 64-byte R‖S form" in info.value.message


@pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")
@pytest.mark.parametrize(("curve", "alg", "digest", "size"), [("secp384r1", "ES384", "sha384", 48)])
def test_openssl_other_curves(tmp_path, curve, alg, digest, size):
    run(OPENSSL, "ecparam", "-genkey", "-name", curve, "-noout", "-out", "ec_private.pem", cwd=tmp_path)
    run(OPENSSL, "ec", "-in", "ec_private.pem", "-pubout", "-out", "ec_public.pem", cwd=tmp_path)
    text = signing_input(alg)
    r, s = decode_dss_signature(openssl_sign(tmp_path, "ec_private.pem", digest, text))
    token = f"{text}.{b64(r.to_bytes(size, 'big') + s.to_bytes(size, 'big'))}"
    assert verify(token, (tmp_path / "ec_public.pem").read_text()).alg == alg


@pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")
@pytest.mark.parametrize(("alg", "digest"), [("RS256", "sha256"), ("RS384", "sha384"), ("RS512", "sha512")])
def test_openssl_rsa_key(openssl_rsa, alg, digest):
    public_pem = (openssl_rsa / "public.pem").read_text()
    text = signing_input(alg)
    token = f"{text}.{b64(openssl_sign(openssl_rsa, 'private.pem', digest, text))}"
    assert verify(token, public_pem).alg == alg


@pytest.mark.skipif(OPENSSL is None or shutil.which("sh") is None, reason="openssl or sh is not installed")
def test_openssl_rsa_token_built_entirely_in_the_shell(openssl_rsa):
    """The guide's shell recipe, base64url by `openssl base64 | tr`, no Python in the token path."""
    now = int(time.time())
    script = f"""
set -e
b64url() {{ openssl base64 -A | tr '+/' '-_' | tr -d '='; }}
header=$(printf '%s' '{{"alg":"RS256","typ":"JWT","kid":"site-1"}}' | b64url)
payload=$(printf '%s' '{{"name":"Jane Doe","iat":{now},"exp":{now + 300}}}' | b64url)
sig=$(printf '%s' "$header.$payload" | openssl dgst -sha256 -sign private.pem | b64url)
printf '%s' "$header.$payload.$sig"
"""
    token = subprocess.run(
        ["sh", "-c", script], cwd=openssl_rsa, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    result = verify(token, (openssl_rsa / "public.pem").read_text())
    assert result.kid == "site-1"
    assert result.fields == [{"label": "name", "data": "Jane Doe", "type": "string"}]
