"""Ready-to-copy signing code for one widget: its id, kid and algorithm filled in.

Pure text, no Django: `snippets_for` picks the widget's newest active key
(or placeholders when there is none) and returns the snippets in the order the
playground shows them. Each note says where the language trips integrators up,
above all ECDSA signatures in DER where JWS needs raw R‖S (RFC 7518 §3.4).
Never put secrets here: only public ids, kids and algorithm names.
"""

from __future__ import annotations

from dataclasses import dataclass

FORMATS = ("claims", "fields")
PLACEHOLDER_KID = "YOUR-KEY-ID"
PLACEHOLDER_WIDGET = "YOUR-WIDGET-ID"


@dataclass(frozen=True)
class Snippet:
    slug: str
    title: str
    language: str
    code: str
    note: str = ""


@dataclass(frozen=True)
class SnippetSet:
    widget_id: str
    kid: str
    alg: str
    key_type: str  # "EC" | "RSA"
    curve: str | None
    placeholder: bool  # no active key yet: kid and alg are examples
    items: tuple[Snippet, ...]


_CURVE_OF = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}

_DER_NOTE = (
    "JWS wants the raw R‖S signature ({size} bytes for {alg}). {where} produces DER (ASN.1, about {der} bytes): "
    "a token built from it fails with bad_signature."
)


def _der_note(alg: str, where: str) -> str:
    size = {"ES256": 64, "ES384": 96, "ES512": 132}.get(alg)
    if size is None:
        return ""
    return _DER_NOTE.format(size=size, alg=alg, where=where, der=f"{size + 6}-{size + 8}")


def snippets_for(*, widget, keys, fmt: str = "claims", base_url: str = "https://signet.example.com") -> SnippetSet:
    """Snippets for `widget` (or placeholders); `keys` are its SigningKey rows, newest first."""
    active = [k for k in keys if getattr(k, "effective_status", k.status) == "active"]
    key = active[0] if active else None
    if key is not None:
        alg = (key.algorithms or ["ES256"])[0]
        kid, key_type, curve = key.kid, key.key_type, key.curve or None
    else:
        alg, kid, key_type, curve = "ES256", PLACEHOLDER_KID, "EC", "P-256"
    widget_id = widget.public_id if widget is not None else PLACEHOLDER_WIDGET
    fmt = fmt if fmt in FORMATS else "claims"
    values = {"@@KID@@": kid, "@@ALG@@": alg, "@@WIDGET@@": widget_id, "@@BASE@@": base_url.rstrip("/")}
    items = [
        _openssl(alg, key_type),
        _python_jose(fmt, alg),
        _pyjwt(fmt, alg),
        _node(fmt, alg),
        _php(fmt, alg),
        _java(fmt, alg, key_type),
        _curl(),
    ]
    filled = []
    for item in items:
        code = item.code
        for marker, value in values.items():
            code = code.replace(marker, value)
        filled.append(Snippet(item.slug, item.title, item.language, code, item.note))
    return SnippetSet(
        widget_id=widget_id,
        kid=kid,
        alg=alg,
        key_type=key_type,
        curve=curve,
        placeholder=key is None,
        items=tuple(filled),
    )


# --- the snippets -----------------------------------------------------------------------------


def _openssl(alg: str, key_type: str) -> Snippet:
    if key_type == "RSA":
        make = "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out private.pem"
    else:
        curve = _CURVE_OF.get(alg, "P-256")
        make = f"openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:{curve} -out private.pem"
    code = f"""# 1. The private key (PKCS#8 PEM): it stays on your back end, never in the browser or in git.
{make}

# 2. Its public half: register this one on the widget (@@WIDGET@@).
openssl pkey -in private.pem -pubout -out public.pem

# 3. Compare with the fingerprint the widget page shows for your key.
openssl pkey -pubin -in public.pem -outform DER | openssl dgst -sha256
"""
    note = (
        "Keep the PEM line breaks when you store the key (an environment variable that turns them into "
        "\\n or spaces breaks it). "
    )
    if key_type != "RSA":
        note += (
            "Do not build a token from 'openssl dgst -sha256 -sign': it writes a DER signature, and JWS needs raw "
            "R‖S. Use a JOSE library, as below."
        )
    return Snippet("openssl", "Key pair (openssl)", "shell", code, note)


_PY_CLAIMS = """now = int(time.time())
claims = {
    "name": "Jane Doe",
    "isLoggedIn": True,
    "email": "jane@example.com",
    "iat": now,
    "exp": now + 600,  # 10 minutes: sign a fresh token for each chat
    "jti": str(uuid.uuid4()),  # a new one every time: Signet refuses a replay
}"""

_PY_FIELDS = """fields = [
    {"label": "name", "data": "Jane Doe", "type": "string"},
    {"label": "customer_id", "data": 124, "type": "number"},
    {"label": "logged_in", "data": True, "type": "boolean"},
]
payload = json.dumps(fields, separators=(",", ":")).encode()"""


def _python_jose(fmt: str, alg: str) -> Snippet:
    if fmt == "fields":
        body = _PY_FIELDS + '\ntoken = jws.sign(payload, PRIVATE_KEY, headers={"kid": "@@KID@@"}, algorithm="@@ALG@@")'
        imports = "import json\n\nfrom jose import jws"
    else:
        body = _PY_CLAIMS + '\ntoken = jws.sign(claims, PRIVATE_KEY, headers={"kid": "@@KID@@"}, algorithm="@@ALG@@")'
        imports = "import time\nimport uuid\n\nfrom jose import jws"
    code = f"""# pip install "python-jose[cryptography]"
{imports}

with open("private.pem") as f:  # read the file: its line breaks matter
    PRIVATE_KEY = f.read()

{body}
"""
    note = "python-jose writes ES signatures as raw R‖S: nothing to convert." if alg.startswith("ES") else ""
    return Snippet("python-jose", "Python (python-jose)", "python", code, note)


def _pyjwt(fmt: str, alg: str) -> Snippet:
    if fmt == "fields":
        body = (
            _PY_FIELDS
            + '\ntoken = jwt.api_jws.encode(payload, PRIVATE_KEY, algorithm="@@ALG@@", headers={"kid": "@@KID@@"})'
        )
        imports = "import json\n\nimport jwt"
    else:
        body = _PY_CLAIMS + '\ntoken = jwt.encode(claims, PRIVATE_KEY, algorithm="@@ALG@@", headers={"kid": "@@KID@@"})'
        imports = "import time\nimport uuid\n\nimport jwt"
    code = f"""# pip install "pyjwt[crypto]"
{imports}

with open("private.pem") as f:
    PRIVATE_KEY = f.read()

{body}
"""
    note = ""
    if alg.startswith("ES"):
        note = (
            "PyJWT writes R‖S. "
            + _der_note(alg, "Signing by hand with cryptography's private_key.sign(data, ec.ECDSA(hashes.SHA256()))")
            + " Convert with decode_dss_signature, or let the library sign."
        )
    return Snippet("pyjwt", "Python (PyJWT)", "python", code, note)


def _node(fmt: str, alg: str) -> Snippet:
    if fmt == "fields":
        body = """const fields = [
  { label: "name", data: "Jane Doe", type: "string" },
  { label: "customer_id", data: 124, type: "number" },
  { label: "logged_in", data: true, type: "boolean" },
];
const token = await new CompactSign(new TextEncoder().encode(JSON.stringify(fields)))
  .setProtectedHeader({ alg: "@@ALG@@", kid: "@@KID@@" })
  .sign(privateKey);"""
        names = "CompactSign, importPKCS8"
        extra = ""
    else:
        body = """const token = await new SignJWT({ name: "Jane Doe", isLoggedIn: true, email: "jane@example.com" })
  .setProtectedHeader({ alg: "@@ALG@@", kid: "@@KID@@", typ: "JWT" })
  .setIssuedAt()
  .setExpirationTime("10m")
  .setJti(randomUUID())
  .sign(privateKey);"""
        names = "SignJWT, importPKCS8"
        extra = 'import { randomUUID } from "node:crypto";\n'
    code = f"""// npm install jose   (Node 18 or later; ES module)
import {{ readFileSync }} from "node:fs";
{extra}import {{ {names} }} from "jose";

// importPKCS8 wants "BEGIN PRIVATE KEY" (PKCS#8); convert others with: openssl pkcs8 -topk8 -nocrypt
const privateKey = await importPKCS8(readFileSync("private.pem", "utf8"), "@@ALG@@");

{body}
"""
    note = ""
    if alg.startswith("ES"):
        note = (
            "jose writes R‖S. "
            + _der_note(alg, "Node's own crypto.sign()")
            + (' Pass { dsaEncoding: "ieee-p1363" } if you sign with node:crypto directly.')
        )
    return Snippet("node", "Node.js (jose)", "javascript", code, note)


def _php(fmt: str, alg: str) -> Snippet:
    if fmt == "fields":
        payload = """$payload = json_encode([
    ['label' => 'name', 'data' => 'Jane Doe', 'type' => 'string'],
    ['label' => 'customer_id', 'data' => 124, 'type' => 'number'],
    ['label' => 'logged_in', 'data' => true, 'type' => 'boolean'],
], JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR);"""
    else:
        payload = """$now = time();
$payload = json_encode([
    'name' => 'Jane Doe',
    'isLoggedIn' => true,
    'email' => 'jane@example.com',
    'iat' => $now,
    'exp' => $now + 600,
    'jti' => bin2hex(random_bytes(16)),
], JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR);"""
    code = f"""<?php
// composer require web-token/jwt-library
use Jose\\Component\\Core\\AlgorithmManager;
use Jose\\Component\\KeyManagement\\JWKFactory;
use Jose\\Component\\Signature\\Algorithm\\@@ALG@@;
use Jose\\Component\\Signature\\JWSBuilder;
use Jose\\Component\\Signature\\Serializer\\CompactSerializer;

$jwk = JWKFactory::createFromKeyFile(__DIR__ . '/private.pem');

{payload}

$jws = (new JWSBuilder(new AlgorithmManager([new @@ALG@@()])))
    ->create()
    ->withPayload($payload)
    ->addSignature($jwk, ['alg' => '@@ALG@@', 'kid' => '@@KID@@', 'typ' => 'JWT'])
    ->build();
$token = (new CompactSerializer())->serialize($jws, 0);
"""
    note = ""
    if alg.startswith("ES"):
        note = (
            "web-token writes R‖S. "
            + _der_note(alg, "PHP's openssl_sign()")
            + (" If you sign with openssl_sign yourself, convert with web-token's ECSignature::fromAsn1().")
        )
    return Snippet("php", "PHP (web-token, CompactSerializer)", "php", code, note)


def _java(fmt: str, alg: str, key_type: str) -> Snippet:
    is_ec = key_type != "RSA"
    factory, key_class, signer = (
        ("EC", "ECPrivateKey", "ECDSASigner") if is_ec else ("RSA", "PrivateKey", "RSASSASigner")
    )
    key_import = "java.security.interfaces.ECPrivateKey" if is_ec else "java.security.PrivateKey"
    if fmt == "fields":
        body = """    String fields = "[{\\"label\\":\\"name\\",\\"data\\":\\"Jane Doe\\",\\"type\\":\\"string\\"},"
        + "{\\"label\\":\\"customer_id\\",\\"data\\":124,\\"type\\":\\"number\\"}]";
    JWSObject jws = new JWSObject(
        new JWSHeader.Builder(JWSAlgorithm.@@ALG@@).keyID("@@KID@@").build(), new Payload(fields));
    jws.sign(new SIGNER(key));
    String token = jws.serialize();"""
        extra_imports = ""
    else:
        body = """    Date now = new Date();
    JWTClaimsSet claims = new JWTClaimsSet.Builder()
        .claim("name", "Jane Doe")
        .claim("isLoggedIn", true)
        .claim("email", "jane@example.com")
        .issueTime(now)
        .expirationTime(new Date(now.getTime() + 600_000))
        .jwtID(UUID.randomUUID().toString())
        .build();
    SignedJWT jwt = new SignedJWT(
        new JWSHeader.Builder(JWSAlgorithm.@@ALG@@).keyID("@@KID@@").type(JOSEObjectType.JWT).build(), claims);
    jwt.sign(new SIGNER(key));
    String token = jwt.serialize();"""
        extra_imports = "import com.nimbusds.jwt.JWTClaimsSet;\nimport com.nimbusds.jwt.SignedJWT;\n"
    body = body.replace("SIGNER", signer)
    code = f"""// Maven: com.nimbusds:nimbus-jose-jwt
import com.nimbusds.jose.*;
import com.nimbusds.jose.crypto.{signer};
{extra_imports}import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import {key_import};
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.*;

public class SignVisitor {{
  public static void main(String[] args) throws Exception {{
    // PKCS#8 PEM ("BEGIN PRIVATE KEY"); removing all white space makes lost line breaks harmless.
    String pem = Files.readString(Path.of("private.pem"));
    byte[] der = Base64.getDecoder().decode(pem.replaceAll("-----[A-Z ]+-----", "").replaceAll("\\\\s", ""));
    {key_class} key = ({key_class}) KeyFactory.getInstance("{factory}").generatePrivate(new PKCS8EncodedKeySpec(der));

{body}
    System.out.println(token);
  }}
}}
"""
    note = ""
    if is_ec:
        note = (
            "Nimbus writes R‖S. "
            + _der_note(alg, 'Signature.getInstance("SHA256withECDSA")')
            + (" Use Nimbus, the SHA256withECDSAinP1363Format algorithm, or ECDSA.transcodeSignatureToConcat().")
        )
    return Snippet("java", "Java (Nimbus JOSE + JWT)", "java", code, note)


def _curl() -> Snippet:
    code = """# From the chat back end: check a token with an API key of this tenant.
curl -sS -X POST "@@BASE@@/api/v1/widgets/@@WIDGET@@/verify" \\
  -H "Authorization: Bearer $SIGNET_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d "{\\"signed_interaction_data\\": \\"$TOKEN\\"}"
"""
    return Snippet(
        "curl",
        "Check it with the verify API (curl)",
        "shell",
        code,
        "This call consumes the token's jti: a second call with the same token answers replayed.",
    )
