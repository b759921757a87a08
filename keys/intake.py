"""Turning what an admin pastes into a public key we can trust, or a refusal that teaches.

`import_public_key(value)` takes what an admin pasted or an API client sent:
PEM (SubjectPublicKeyInfo, PKCS#1 `RSA PUBLIC KEY`, an X.509 certificate),
the same without armour (bare base64 DER), a JWK object, JWK JSON text or a
one-key JWKS, and it forgives the usual damage (CRLF, blank lines, spaces,
everything on one line, literal `\\n`, JSON quoting). It returns an
`ImportedKey`, or raises `KeyImportError(code, message)` with one of the API
contract's codes: invalid_key, private_key_rejected, weak_key, unsupported_key.
`holds_private_key(value)` says whether a text (or JWK object) holds private key
material in any form this module refuses, for callers that must not echo it.

What it must never do: put the pasted text, any piece of it, or anything
derived from private material into a message, an exception, a log line or a
return value. Messages are fixed sentences plus numbers and names from our own
allowlists; library exceptions are dropped with `from None`. Private material is
looked for before anything else, so a bundle holding one private block is
refused whole, and so is the DER of a private key in base64 or hex anywhere in
the text, even beside a public block, cut short or followed by other bytes.
Cryptography itself lives in keys/jose.py; this module handles text and the
outer DER shape only. It imports no Django code.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from keys import jose


class KeyImportError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ImportedKey:
    facts: jose.PublicKeyFacts
    source_format: str  # "spki" | "pkcs1" | "certificate" | "jwk"
    certificate_not_after: datetime | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    kid_hint: str | None = None  # a JWK's own "kid", if it had one


MAX_INPUT_CHARS = 20_000  # a 8192-bit RSA certificate with a long chain of names stays well below
# `holds_private_key` looks through at most this much (the API's request size limit); a
# longer text is taken as holding private material, so callers never echo it.
MAX_SCANNED_CHARS = 64 * 1024
CERT_EXPIRY_WARNING = timedelta(days=30)

ACCEPTED = "Signet accepts EC P-256/P-384/P-521 and RSA keys of 2048 bits or more."
FORMATS = (
    "a PEM public key (-----BEGIN PUBLIC KEY-----), an RSA PUBLIC KEY, a certificate (-----BEGIN CERTIFICATE-----) "
    "or a JWK"
)


def _invalid(message: str) -> KeyImportError:
    return KeyImportError("invalid_key", message)


def import_public_key(value: str | dict) -> ImportedKey:
    """Parse one pasted public key; raise KeyImportError with a contract code and a teaching message."""
    try:
        return _import(value)
    except KeyImportError:
        raise
    except (jose.UnsupportedKey, jose.KeyDataError) as exc:
        raise KeyImportError(getattr(exc, "code", "invalid_key"), exc.message) from None
    except Exception:  # noqa: BLE001 - no paste may turn into a traceback that could quote it
        raise _invalid(f"This could not be read as a public key. Paste {FORMATS}.") from None


# --- private material: looked for first, in every form -----------------------

_PRIVATE_JWK_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth")
# "Private-Key:" heads what `openssl pkey -text` prints of a private key.
_PRIVATE_TEXT = re.compile(r"PRIVATE[ \t-]{0,4}KEY|PuTTY-User-Key-File|Private-Lines\s{0,4}:", re.IGNORECASE)
_PRIVATE_JSON_MEMBER = re.compile(r'"(?:d|p|q|dp|dq|qi|oth)"\s{0,20}:')

_EC_COMMAND = "openssl ec -in ec_private.pem -pubout -out ec_public.pem"
_RSA_COMMAND = "openssl rsa -in private.pem -outform PEM -pubout -out public.pem"
_ANY_COMMAND = "openssl pkey -in private.pem -pubout -out public.pem"
_EXPOSED = (
    "It was not saved, but a private key pasted into a form must be treated as exposed: "
    "make a new key pair and stop using this one."
)


def _private(kind: str | None, *, jwk: bool = False) -> KeyImportError:
    """The refusal for private material. `kind` is "EC", "RSA", "OPENSSH", "PGP", "PUTTY", "ENCRYPTED" or None."""
    what = {"EC": "an EC private key", "RSA": "an RSA private key"}.get(kind or "", "a private key")
    if jwk:
        members = "kty, crv, x, y" if kind == "EC" else "kty, n, e" if kind == "RSA" else "the public members"
        head = f"This JWK is {what}: it has private members (such as d). {_EXPOSED} "
        tail = f"Paste the public JWK ({members} only), or the PEM public key from the new private key with: "
    else:
        head = f"This is {what}. {_EXPOSED} Signet needs only the public key. "
        tail = "Get it from the new private key with: "
    if kind == "EC":
        return KeyImportError("private_key_rejected", head + tail + _EC_COMMAND)
    if kind == "RSA":
        return KeyImportError("private_key_rejected", head + tail + _RSA_COMMAND)
    if kind == "OPENSSH":
        return KeyImportError(
            "private_key_rejected",
            f"This is an OpenSSH private key. {_EXPOSED} Signet needs only the public key, as PEM: "
            "ssh-keygen -y -f new_key > key.pub, then ssh-keygen -e -m PKCS8 -f key.pub",
        )
    if kind == "PGP":
        return KeyImportError(
            "private_key_rejected",
            f"This is a PGP private key block. {_EXPOSED} Signet does not take PGP keys: {ACCEPTED} "
            f"Make one with openssl and paste its public key ({_EC_COMMAND}).",
        )
    if kind == "PUTTY":
        return KeyImportError(
            "private_key_rejected",
            f"This is a PuTTY private key file. {_EXPOSED} Signet needs only the public key, as PEM: "
            "puttygen new_key.ppk -O public-openssh -o key.pub, then ssh-keygen -e -m PKCS8 -f key.pub",
        )
    if kind == "ENCRYPTED":
        head = (
            "This is an encrypted private key. It was not saved, but it must be treated as exposed "
            "(it is only as safe as its passphrase): make a new key pair and stop using this one. "
            "Signet needs only the public key. "
        )
    return KeyImportError("private_key_rejected", head + tail + _ANY_COMMAND)


def holds_private_key(value) -> bool:
    """Whether `value`, pasted text or a JWK object, holds private key material that intake refuses.

    True for PEM armour or another marker of a private key ("PRIVATE KEY" anywhere, even in
    prose, OpenSSH, PGP, PuTTY, `openssl -text`), for the DER of a private key in base64 or
    hex anywhere in the text (unarmoured, beside a public block, cut short or with more bytes
    after it), and for JSON with JWK private members (d, p, q, dp, dq, qi, oth) at the top or
    in a key set, as `import_public_key` reads JWKs (so it is meant for key fields, not for
    arbitrary JSON). It errs towards True, never raises and never keeps the text: callers use
    it to decide what must be cleared rather than echoed.
    """
    if isinstance(value, dict):
        return _jwk_holds_private(value)
    if not isinstance(value, str):
        return False
    if len(value) > MAX_SCANNED_CHARS:
        return True  # too long to look through: taken as private, so it is never echoed
    text = _clean(value)
    for _ in range(2):  # the text itself, then once more inside JSON quotes (as intake reads it)
        try:
            _refuse_private_text(_unescape(text))
        except KeyImportError:
            return True
        if not text or text[0] not in '{["':
            return False
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):
            return bool(_PRIVATE_JSON_MEMBER.search(text))
        if not isinstance(parsed, str):
            return _jwk_holds_private(parsed)
        text = _clean(parsed)
    return False


def _jwk_holds_private(value) -> bool:
    """A JWK, a key set or a JSON list with private members, read as `_from_json_text` and `_from_jwk_object` do."""
    items = value if isinstance(value, list) else [value]
    if isinstance(value, dict) and isinstance(value.get("keys"), list):
        items = [value, *value["keys"]]
    return any(isinstance(item, dict) and any(m in item for m in _PRIVATE_JWK_MEMBERS) for item in items)


def _refuse_private_text(text: str) -> None:
    """Any armour or marker of private material anywhere in the paste refuses all of it, and so does
    the DER of a private key in base64 or hex anywhere in it (`_hidden_private_der`)."""
    if not _PRIVATE_TEXT.search(text):
        hidden = _hidden_private_der(text)
        if hidden is not None:
            raise _private(_kind_of_shape(hidden))
        if text[:1] not in ("{", "[") and _PRIVATE_JSON_MEMBER.search(text):
            # A private JWK beside a PEM block (JSON text itself is judged member by member).
            raise _private(None, jwk=True)
        return
    upper = text.upper()
    if "OPENSSH PRIVATE KEY" in upper:
        raise _private("OPENSSH")
    if "PGP PRIVATE KEY" in upper:
        raise _private("PGP")
    if "PUTTY-USER-KEY-FILE" in upper or "PRIVATE-LINES" in upper:
        raise _private("PUTTY")
    if "EC PRIVATE KEY" in upper:
        raise _private("EC")
    if "RSA PRIVATE KEY" in upper:
        raise _private("RSA")
    if "ENCRYPTED PRIVATE KEY" in upper:
        raise _private("ENCRYPTED")
    # PKCS#8 "PRIVATE KEY": its algorithm identifier says EC or RSA without touching the secret.
    raise _private(_kind_of_shape(_hidden_private_der(text)))


def _refuse_private_jwk(jwk: dict) -> None:
    if any(member in jwk for member in _PRIVATE_JWK_MEMBERS):
        kty = jwk.get("kty")
        raise _private(kty if kty in ("EC", "RSA") else None, jwk=True)


# --- text clean-up --------------------------------------------------------------

_INVISIBLE = dict.fromkeys(map(ord, "\ufeff\u200b\u200c\u200d\u2060\u00ad"), None)
_ESCAPES = (("\\\\n", "\n"), ("\\r\\n", "\n"), ("\\n", "\n"), ("\\r", "\n"), ("\\t", " "), ("\\/", "/"))


def _clean(text: str) -> str:
    text = text.translate(_INVISIBLE).replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    return text.strip()


def _unescape(text: str) -> str:
    """Literal escape sequences left by copying a PEM out of JSON, YAML or a shell string."""
    for escaped, plain in _ESCAPES:
        text = text.replace(escaped, plain)
    return text.strip()


# --- the dispatcher -----------------------------------------------------------------

_SSH_KEY = re.compile(
    r"(ssh-rsa|ssh-dss|ssh-ed25519|ssh-ed448|ecdsa-sha2-nistp(?:256|384|521)"
    r"|sk-(?:ecdsa-sha2-nistp256|ssh-ed25519)@openssh\.com)\s"
)
_JWS = re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_BEGIN_ANY = re.compile(r"-{3,5} ?BEGIN ", re.IGNORECASE)


def _import(value, *, depth: int = 0) -> ImportedKey:
    if isinstance(value, dict):
        return _from_jwk_object(value)
    if not isinstance(value, str):
        raise _invalid(f"Send the public key as text or as a JWK object: {FORMATS}.")
    if len(value) > MAX_INPUT_CHARS:
        raise _invalid(
            f"This is {len(value)} characters long; one public key or certificate is at most a few thousand "
            f"(limit {MAX_INPUT_CHARS}). Paste only the key."
        )
    text = _clean(value)
    if not text:
        raise _invalid(f"Nothing was pasted. Paste {FORMATS}.")
    _refuse_private_text(_unescape(text))
    if text[0] in "{[":
        return _from_json_text(text, depth=depth)
    if text[0] == '"' and text[-1] == '"' and depth == 0:
        # A PEM copied with its JSON quotes: JSON decoding also undoes its escapes exactly.
        try:
            inner = json.loads(text)
        except (ValueError, RecursionError):
            inner = None
        if isinstance(inner, str):
            return _import(inner, depth=depth + 1)
        text = text.strip('"')
    text = _unescape(text)
    _refuse_ssh(text)
    if _JWS.fullmatch(text):
        raise _invalid(
            "This looks like a signed token (JWS/JWT), not a key. Paste the public key the token is signed with."
        )
    if _BEGIN_ANY.search(text):
        return _from_pem(text)
    compact = "".join(text.split())
    if len(compact) >= 40 and _BASE64.fullmatch(compact):
        der = _b64decode(compact)
        if der is None:
            raise _invalid("The base64 is truncated or damaged (its length does not add up). Copy the whole key again.")
        return _from_der(der, label=None)
    raise _invalid(f"This is not a public key Signet can read. Paste {FORMATS}.")


def _refuse_ssh(text: str) -> None:
    match = _SSH_KEY.match(text + " ")
    if match is None and "SSH2 PUBLIC KEY" not in text.upper():
        return
    kind = match.group(1) if match else ""
    if kind in ("ssh-ed25519", "ssh-ed448") or kind.startswith("sk-"):
        name = "Ed448" if kind == "ssh-ed448" else "Ed25519" if kind == "ssh-ed25519" else "security-key (sk-)"
        raise KeyImportError(
            "unsupported_key", f"This is an OpenSSH {name} public key. {ACCEPTED} Signet cannot use {name} keys."
        )
    if kind == "ssh-dss":
        raise KeyImportError("unsupported_key", f"This is an OpenSSH DSA public key. {ACCEPTED}")
    raise _invalid(
        "This is an OpenSSH public key, not PEM. Convert it with: ssh-keygen -e -m PKCS8 -f key.pub "
        "and paste the -----BEGIN PUBLIC KEY----- block it prints."
    )


# --- PEM ------------------------------------------------------------------------------

# Bounded, non-nested quantifiers only: linear on any input (at most MAX_INPUT_CHARS).
_BEGIN = re.compile(r"-{3,5} ?BEGIN ([A-Z0-9 ]{1,60}?) ?-{3,5}")
_END = re.compile(r"-{3,5} ?END ([A-Z0-9 ]{1,60}?) ?-{3,5}")

_PUBLIC_LABELS = {
    "PUBLIC KEY": "spki",
    "RSA PUBLIC KEY": "pkcs1",
    "CERTIFICATE": "certificate",
    "X509 CERTIFICATE": "certificate",
}
_CSR_MESSAGE = (
    "This looks like a certificate request (CSR), not a certificate; paste the certificate or the public key. "
    "To get the public key from the CSR: openssl req -in request.csr -pubkey -noout"
)
_OTHER_LABELS = {
    "CERTIFICATE REQUEST": _CSR_MESSAGE,
    "NEW CERTIFICATE REQUEST": _CSR_MESSAGE,
    "X509 CRL": "This is a certificate revocation list (CRL), not a key. Paste the certificate or the public key.",
    "PKCS7": "This is a PKCS#7 bundle. Take the certificate out with: openssl pkcs7 -print_certs -in bundle.p7b",
    "CMS": "This is a CMS/PKCS#7 structure, not a key. Paste the certificate or the public key.",
    "PGP PUBLIC KEY BLOCK": f"This is a PGP public key, which Signet cannot use. {ACCEPTED}",
    "SSH2 PUBLIC KEY": "This is an SSH2 public key, not PEM. Convert it with: ssh-keygen -i -f key.pub > openssh.pub, "
    "then ssh-keygen -e -m PKCS8 -f openssh.pub",
    "DH PARAMETERS": "This is a set of Diffie-Hellman parameters, not a key.",
}


def _pem_blocks(text: str):
    """Yield (label, base64 body or None, end_found) for every BEGIN marker, in order."""
    pos = 0
    while True:
        begin = _BEGIN.search(text, pos)
        if begin is None:
            return
        label = " ".join(begin.group(1).split())
        end = _END.search(text, begin.end())
        if end is None:
            yield label, None, False
            return
        end_label = " ".join(end.group(1).split())
        if end_label != label:
            raise _invalid(
                "A BEGIN line and the END line after it do not match (or an END line is missing). "
                "Copy the whole block again, from -----BEGIN to -----END."
            )
        yield label, "".join(text[begin.end() : end.start()].split()), True
        pos = end.end()


def _from_pem(text: str) -> ImportedKey:
    found: list[ImportedKey] = []
    labels: list[str] = []
    for label, body, complete in _pem_blocks(text):
        labels.append(label)
        if label in _OTHER_LABELS:
            raise _invalid(_OTHER_LABELS[label])
        if label == "EC PARAMETERS":
            continue  # `openssl ecparam` prints these next to the key; they carry nothing we need
        if label not in _PUBLIC_LABELS:
            raise _invalid(
                "This PEM block is not a public key: Signet reads PUBLIC KEY, RSA PUBLIC KEY and CERTIFICATE blocks."
            )
        if not complete:
            raise _invalid(
                f"The PEM is cut off: the -----END {label}----- line is missing. "
                "Copy the whole block again, from -----BEGIN to -----END."
            )
        if not body:
            raise _invalid(f"The {label} block is empty. Copy the whole block again.")
        if not _BASE64.fullmatch(body):
            raise _invalid(
                f"The {label} block holds characters that are not base64; it may have been edited or cut. "
                "Copy the whole block again."
            )
        der = _b64decode(body)
        if der is None:
            raise _invalid(
                f"The base64 in the {label} block is truncated (its length does not add up). "
                "Copy the whole block again."
            )
        found.append(_from_der(der, label=label))
    if not found:
        if labels and all(label == "EC PARAMETERS" for label in labels):
            raise _invalid(f"This holds only EC PARAMETERS, no key. Make the public key with: {_EC_COMMAND}")
        raise _invalid(f"No PEM block was found. Paste {FORMATS}.")
    return _single(found)


def _single(found: list[ImportedKey]) -> ImportedKey:
    distinct = {item.facts.fingerprint_sha256 for item in found}
    if len(distinct) > 1:
        certificates = sum(item.source_format == "certificate" for item in found)
        chain = " (a certificate chain)" if certificates == len(found) else ""
        raise _invalid(
            f"This paste holds {len(distinct)} different public keys{chain}. Register one key at a time: "
            "paste only the block of the key your site signs with."
        )
    # The same key twice (say a certificate and its PUBLIC KEY): keep the richest description.
    return next((item for item in found if item.source_format == "certificate"), found[0])


def _b64decode(body: str) -> bytes | None:
    if len(body) % 4:
        return None
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return None


# --- DER: the outer shape only (what is it? is it whole?) ---------------------------

_OID_EC = bytes.fromhex("2a8648ce3d0201")
_OID_RSA = bytes.fromhex("2a864886f70d010101")
_OID_RSA_PSS = bytes.fromhex("2a864886f70d01010a")
_OID_NAMES = {
    bytes.fromhex("2b6570"): "Ed25519",
    bytes.fromhex("2b6571"): "Ed448",
    bytes.fromhex("2b656e"): "X25519",
    bytes.fromhex("2b656f"): "X448",
    bytes.fromhex("2a8648ce380401"): "DSA",
}


class _DerError(Exception):
    def __init__(self, truncated: bool):
        super().__init__()
        self.truncated = truncated


def _tlv(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the element at `pos`; _DerError when it runs past `end`."""
    if pos + 2 > end:
        raise _DerError(truncated=True)
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4:
            raise _DerError(truncated=False)
        if pos + count > end:
            raise _DerError(truncated=True)
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > end:
        raise _DerError(truncated=True)
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int, limit: int = 12) -> list[tuple[int, int, int]]:
    out = []
    while start < end and len(out) < limit:
        tag, cstart, cend = _tlv(data, start, end)
        out.append((tag, cstart, cend))
        start = cend
    return out


def _der_shape(der: bytes) -> tuple[str, bytes]:
    """What the DER is: ("spki" | "pkcs1" | "certificate" | "csr" | "private" | "encrypted_private"
    | "truncated" | "trailing" | "unknown", algorithm OID or b"").

    Private material is recognised from its first elements, before the DER is required
    to be whole: a private key cut short or followed by other bytes is still private.
    """
    private = _private_shape(der)
    if private is not None:
        return private
    try:
        tag, start, end = _tlv(der, 0, len(der))
        if tag != 0x30:
            return "unknown", b""
        if end != len(der):
            return "trailing", b""
        items = _children(der, start, end)
    except _DerError as exc:
        return ("truncated" if exc.truncated else "unknown"), b""
    tags = [t for t, _, _ in items]

    def oid_of(item) -> bytes:
        try:
            inner = _children(der, item[1], item[2], limit=2)
        except _DerError:
            return b""
        return der[inner[0][1] : inner[0][2]] if inner and inner[0][0] == 0x06 else b""

    if tags[:2] == [0x30, 0x03]:
        return "spki", oid_of(items[0])
    if tags == [0x02, 0x02]:
        return "pkcs1", _OID_RSA
    if tags[:3] == [0x30, 0x30, 0x03]:
        try:
            info = _children(der, items[0][1], items[0][2])
        except _DerError:
            return "unknown", b""
        info_tags = [t for t, _, _ in info]
        if info_tags[:1] == [0xA0] or len(info_tags) >= 6:
            return "certificate", b""
        if info_tags[:3] == [0x02, 0x30, 0x30]:
            return "csr", b""
    return "unknown", b""


def _kind_of_shape(shape: tuple[str, bytes] | None) -> str | None:
    """The `kind` of `_private` for a private shape: "EC", "RSA", "ENCRYPTED" or None."""
    if shape is None:
        return None
    if shape[0] == "encrypted_private":
        return "ENCRYPTED"
    return "EC" if shape[1] == _OID_EC else "RSA" if shape[1] == _OID_RSA else None


def _head(data: bytes, pos: int) -> tuple[int, int, int] | None:
    """(tag, content start, content end as its length says) of the element at `pos`, or None when
    its header is not all there. The content itself may run past the end of `data`."""
    if pos + 2 > len(data):
        return None
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first < 0x80:
        return tag, pos, pos + first
    count = first & 0x7F
    if count == 0 or count > 4 or pos + count > len(data):
        return None
    return tag, pos + count, pos + count + int.from_bytes(data[pos : pos + count], "big")


def _private_shape(der: bytes) -> tuple[str, bytes] | None:
    """("private", algorithm OID or b"") or ("encrypted_private", b"") when `der` begins as a private
    key does, else None. Only the first elements are read (their headers, the version and the
    algorithm), so DER cut short or followed by other bytes is recognised too."""
    outer = _head(der, 0)
    if outer is None or outer[0] != 0x30:
        return None
    pos, end = outer[1], min(outer[2], len(der))
    items = []
    while pos < end and len(items) < 6:
        item = _head(der, pos)
        if item is None:
            break
        items.append(item)
        pos = item[2]
    tags = [tag for tag, _, _ in items]

    def content(index: int) -> bytes:
        return der[items[index][1] : min(items[index][2], len(der))]

    def oid_of(index: int) -> bytes:
        inner = _head(der, items[index][1])
        if inner is None or inner[0] != 0x06 or inner[2] > min(items[index][2], len(der)):
            return b""
        return der[inner[1] : inner[2]]

    if tags[:3] == [0x02, 0x30, 0x04]:  # PKCS#8 PrivateKeyInfo / OneAsymmetricKey
        return "private", oid_of(1)
    if tags[:2] == [0x30, 0x04] and oid_of(0):  # PKCS#8 EncryptedPrivateKeyInfo
        return "encrypted_private", b""
    if tags[:2] == [0x02, 0x04] and content(0) == b"\x01":  # SEC1 ECPrivateKey
        return "private", _OID_EC
    if tags[:2] == [0x02, 0x02] and content(0) in (b"\x00", b"\x01"):  # PKCS#1 RSAPrivateKey: version, n, ...
        return "private", _OID_RSA
    if len(tags) >= 6 and all(tag == 0x02 for tag in tags[:6]):
        return "private", _OID_RSA
    return None


# Unarmoured private DER in a paste: its base64 starts with "M" (the 0x30 of a SEQUENCE)
# and one of A-I (a length below 0x80, or 0x81-0x84), its hex with "30", at the start of a
# word. Each such word is tried as the start of a key, over the words that follow it on the
# same run (only white space between them, or colons for hex). Nine bytes tell whether it
# can be one (a version INTEGER or an algorithm SEQUENCE comes first); only then are 512
# decoded and read. No key paste has hundreds of starts that pass those nine bytes, so the
# search stops after _MAX_DER_TRIES of them: that bounds the work on any input.
_B64_WORD = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_HEX_WORD = re.compile(r"(?<![A-Za-z0-9+/])[0-9A-Fa-f]+(?![A-Za-z0-9+/=])")
_B64_LENGTH_START = frozenset("ABCDEFGHI")
_HEX_LENGTH_START = frozenset("012345678")
_HEAD_BYTES = 9  # the outer header (at most 6 bytes) and the first 3 bytes of what it holds
_SHAPE_BYTES = 512  # the version, the algorithm (even with explicit P-521 parameters) and the next header
_MAX_DER_TRIES = 256


def _runs(text: str, word: re.Pattern, gaps: str) -> list[tuple[str, list[int]]]:
    """Runs of `word` separated only by characters of `gaps`: (the words joined, where each word starts)."""
    runs, parts, starts, length, last_end = [], [], [], 0, 0
    for match in word.finditer(text):
        if parts and text[last_end : match.start()].strip(gaps):
            runs.append(("".join(parts), starts))
            parts, starts, length = [], [], 0
        starts.append(length)
        parts.append(match.group())
        length += len(match.group())
        last_end = match.end()
    if parts:
        runs.append(("".join(parts), starts))
    return runs


def _b64_bytes(joined: str, start: int, count: int) -> bytes:
    chunk = joined[start : start + (count + 2) // 3 * 4].split("=", 1)[0]
    return base64.b64decode(chunk[: len(chunk) // 4 * 4])


def _hex_bytes(joined: str, start: int, count: int) -> bytes:
    chunk = joined[start : start + 2 * count]
    return bytes.fromhex(chunk[: len(chunk) // 2 * 2])


def _may_be_private(head: bytes) -> bool:
    outer = _head(head, 0)
    if outer is None or outer[0] != 0x30:
        return False
    first = head[outer[1] : outer[1] + 3]
    return first[:1] == b"\x30" or first[:2] == b"\x02\x01"


def _der_starts(text: str):
    """(decode, joined run, start) for every word of `text` where base64 or hex DER of a SEQUENCE could start."""
    for joined, starts in _runs(text, _B64_WORD, " \t\n"):
        for start in starts:
            if joined[start] == "M" and joined[start + 1 : start + 2] in _B64_LENGTH_START:
                yield _b64_bytes, joined, start
    for joined, starts in _runs(text, _HEX_WORD, " \t\n:"):
        for start in starts:
            if joined[start : start + 2] == "30" and joined[start + 2 : start + 3] in _HEX_LENGTH_START:
                yield _hex_bytes, joined, start


def _hidden_private_der(text: str) -> tuple[str, bytes] | None:
    """The private shape of the first base64 or hex DER of a private key anywhere in `text`, or None."""
    tries = 0
    for decode, joined, start in _der_starts(text):
        if not _may_be_private(decode(joined, start, _HEAD_BYTES)):
            continue
        tries += 1
        if tries > _MAX_DER_TRIES:
            return None
        shape = _private_shape(decode(joined, start, _SHAPE_BYTES))
        if shape is not None:
            return shape
    return None


def _from_der(der: bytes, *, label: str | None) -> ImportedKey:
    shape, oid = _der_shape(der)
    where = f"the {label} block" if label else "the key"
    if shape == "truncated":
        raise _invalid(
            f"The base64 is truncated: {where} ends before its data does. Copy the whole key again, "
            "from -----BEGIN to -----END."
        )
    if shape == "trailing":
        raise _invalid(f"There is extra data after the end of {where}. Copy the key again, and only the key.")
    if shape == "private":
        raise _private("EC" if oid == _OID_EC else "RSA" if oid == _OID_RSA else None)
    if shape == "encrypted_private":
        raise _private("ENCRYPTED")
    if shape == "csr":
        raise _invalid(_CSR_MESSAGE)
    if shape == "unknown":
        said = f"The {label} block does not hold" if label else "This is not"
        raise _invalid(f"{said} a public key or certificate Signet can read. Paste {FORMATS}.")

    warnings: tuple[str, ...] = ()
    not_after = None
    if shape == "certificate":
        cert = jose.load_certificate_der(der)
        public_key, not_after = cert.public_key, cert.not_after
        warnings = _certificate_warnings(cert.not_before, cert.not_after)
    elif shape == "pkcs1":
        public_key = jose.load_pkcs1_der(der)
    else:
        if oid == _OID_RSA_PSS:
            raise KeyImportError(
                "unsupported_key",
                "This is an RSA-PSS-only key (RSASSA-PSS); Signet verifies RSA keys with RS256/RS384/RS512. "
                "Export the key as a plain RSA key (rsaEncryption).",
            )
        if oid in _OID_NAMES:
            raise KeyImportError("unsupported_key", f"This is a {_OID_NAMES[oid]} public key. {ACCEPTED}")
        try:
            public_key = jose.load_spki_der(der)
        except jose.KeyDataError:
            if oid == _OID_EC:
                raise _invalid(
                    "This EC public key is not valid: its point is not on its curve, or the data is damaged. "
                    "Export the public key again."
                ) from None
            raise
        if oid == _OID_EC:
            warnings = _ec_encoding_warnings(der)
    jose.vet_public_key(public_key)
    facts = jose.describe_public_key(public_key)
    return ImportedKey(facts=facts, source_format=shape, certificate_not_after=not_after, warnings=warnings)


def _ec_encoding_warnings(der: bytes) -> tuple[str, ...]:
    """Signet stores EC keys as named curve + uncompressed point; say how to get the same fingerprint."""
    try:
        _, start, end = _tlv(der, 0, len(der))
        (_, a_start, a_end), (_, b_start, _) = _children(der, start, end, limit=2)
        params_tag = _children(der, a_start, a_end, limit=2)[1][0]
        point_form = der[b_start + 1]
    except (_DerError, IndexError, ValueError):
        return ()
    warnings = []
    if params_tag != 0x06:
        warnings.append(
            "This key spells out its curve parameters instead of naming the curve; Signet stores it with the named "
            "curve. To compare fingerprints, run: openssl ec -pubin -in public.pem -param_enc named_curve -pubout "
            "| openssl pkey -pubin -outform DER | sha256sum"
        )
    if point_form in (0x02, 0x03):
        warnings.append(
            "This key uses a compressed EC point; Signet stores it uncompressed. To compare fingerprints, run: "
            "openssl pkey -pubin -in public.pem -outform DER -ec_conv_form uncompressed | sha256sum"
        )
    return tuple(warnings)


def _certificate_warnings(not_before: datetime, not_after: datetime) -> tuple[str, ...]:
    now = datetime.now(UTC)
    day = not_after.strftime("%Y-%m-%d %H:%M UTC")
    if not_after <= now:
        return (
            f"This certificate expired on {day}. Its key was registered and stays active until you revoke it "
            "or set an expiry; renew the certificate and register the new key when you can.",
        )
    if not_after - now <= CERT_EXPIRY_WARNING:
        days = max(0, (not_after - now).days)
        return (
            f"This certificate expires on {day} (in {days} days); the key stops verifying then. "
            "Register the renewed certificate's key before that date.",
        )
    if not_before > now:
        return (f"This certificate is not valid before {not_before.strftime('%Y-%m-%d %H:%M UTC')}.",)
    return ()


# --- JWK ------------------------------------------------------------------------------

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_KNOWN_ALGS = {
    "ES256", "ES384", "ES512", "ES256K", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "HS256", "HS384", "HS512", "EdDSA", "Ed25519", "Ed448", "none", "RSA1_5", "RSA-OAEP", "RSA-OAEP-256",
    "ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A256KW", "A128KW", "A256KW", "A128GCM", "A256GCM", "dir",
}  # fmt: skip
_KNOWN_CURVES = {"secp256k1", "P-192", "P-224", "brainpoolP256r1", "brainpoolP384r1", "brainpoolP512r1"}
_OKP_CURVES = {"Ed25519", "Ed448", "X25519", "X448"}
_COORD_SIZE = {"P-256": 32, "P-384": 48, "P-521": 66}


class _DuplicateMember(Exception):
    pass


def _no_duplicates(pairs):
    obj = {}
    for name, value in pairs:
        if name in obj:
            raise _DuplicateMember
        obj[name] = value
    return obj


def _from_json_text(text: str, *, depth: int) -> ImportedKey:
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates)
    except _DuplicateMember:
        raise _invalid("This JSON names the same member twice; a JWK must name each member once.") from None
    except json.JSONDecodeError as exc:
        if _PRIVATE_JSON_MEMBER.search(text):
            raise _private(None, jwk=True) from None
        raise _invalid(
            f"This looks like JSON but is not valid JSON (line {exc.lineno}, column {exc.colno}). "
            "Paste the JWK exactly as it was exported."
        ) from None
    except (ValueError, RecursionError):
        raise _invalid(
            "This looks like JSON but is not valid JSON. Paste the JWK exactly as it was exported."
        ) from None
    if isinstance(value, list):
        if any(isinstance(item, dict) and any(m in item for m in _PRIVATE_JWK_MEMBERS) for item in value):
            raise _private(None, jwk=True)
        raise _invalid('This is a JSON list. Paste one JWK object ({"kty": …}), one key at a time.')
    if isinstance(value, str) and depth == 0:
        return _import(value, depth=depth + 1)
    if not isinstance(value, dict):
        raise _invalid(f"This JSON is not a JWK object. Paste {FORMATS}.")
    return _from_jwk_object(value)


def _from_jwk_object(obj: dict) -> ImportedKey:
    if "keys" in obj:
        keys = obj["keys"]
        if not isinstance(keys, list):
            raise _invalid('This key set (JWKS) is malformed: "keys" must be a list of JWKs.')
        for item in keys:
            if isinstance(item, dict):
                _refuse_private_jwk(item)
        if len(keys) != 1:
            if not keys:
                raise _invalid("This key set (JWKS) is empty. Paste the JWK of your signing key.")
            secret = any(isinstance(item, dict) and item.get("kty") == "oct" and item.get("k") for item in keys)
            raise _invalid(
                f"This key set (JWKS) holds {len(keys)} keys. Register one key at a time: "
                "paste only the JWK your site signs with."
                + (
                    " The set also holds a symmetric (oct) secret, which Signet never accepts: treat it as exposed."
                    if secret
                    else ""
                )
            )
        obj = keys[0]
        if not isinstance(obj, dict):
            raise _invalid("The key in this key set (JWKS) is not a JWK object.")
    _refuse_private_jwk(obj)
    kty = obj.get("kty")
    if not isinstance(kty, str):
        raise _invalid('This JSON is not a JWK: the "kty" member (EC or RSA) is missing.')
    crv = obj.get("crv")
    if crv is not None and not isinstance(crv, str):
        raise _invalid('The JWK\'s "crv" must be a string such as "P-256".')
    if kty == "oct":
        raise KeyImportError(
            "unsupported_key",
            "This is a symmetric (oct) key: a shared secret, not a public key, and Signet never verifies "
            f"HMAC. {ACCEPTED} The secret was not saved, but treat it as exposed and replace it.",
        )
    if kty == "OKP":
        name = crv if crv in _OKP_CURVES else "OKP"
        raise KeyImportError("unsupported_key", f"This is an {name} key (kty OKP). {ACCEPTED}")
    if kty not in ("EC", "RSA"):
        raise KeyImportError("unsupported_key", f'This JWK has a "kty" Signet does not accept. {ACCEPTED}')

    kid = obj.get("kid")
    if kid is not None and (not isinstance(kid, str) or not kid):
        raise _invalid('The JWK\'s "kid" must be a non-empty string.')
    _check_use(obj)

    if kty == "EC":
        if crv not in _COORD_SIZE:
            if crv in _KNOWN_CURVES:
                raise KeyImportError("unsupported_key", f"This is an EC key on the curve {crv}. {ACCEPTED}")
            if crv is None:
                raise _invalid('This EC JWK has no "crv" member (P-256, P-384 or P-521).')
            raise KeyImportError("unsupported_key", f"This EC JWK names a curve Signet does not accept. {ACCEPTED}")
        expected = jose.ALG_BY_CURVE[crv]
        _check_alg(obj, allowed=(expected,), kind=f"a {crv} key", fits=expected)
        size = _COORD_SIZE[crv]
        x = _b64url_member(obj, "x", size=size, crv=crv)
        y = _b64url_member(obj, "y", size=size, crv=crv)
        public_key = jose.ec_public_key(crv, x, y)
    else:
        _check_alg(obj, allowed=jose.RSA_ALGORITHMS, kind="an RSA key", fits="RS256, RS384 or RS512")
        n = int.from_bytes(_b64url_member(obj, "n"), "big")
        e = int.from_bytes(_b64url_member(obj, "e"), "big")
        public_key = jose.rsa_public_key(n, e)
    jose.vet_public_key(public_key)
    facts = jose.describe_public_key(public_key)
    alg = obj.get("alg")
    if alg in facts.algorithms and facts.algorithms[0] != alg:
        # The JWK's own alg first: it is what jwks.json will publish for this key.
        facts = replace(facts, algorithms=(alg, *(a for a in facts.algorithms if a != alg)))
    return ImportedKey(facts=facts, source_format="jwk", kid_hint=kid)


def _check_use(obj: dict) -> None:
    use = obj.get("use")
    if use is not None and use != "sig":
        what = 'marked "use": "enc" (encryption)' if use == "enc" else 'marked with a "use" other than "sig"'
        raise _invalid(
            f'This JWK is {what}; Signet needs a signing key. Use the key your site signs with ("use": "sig").'
        )
    ops = obj.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        raise _invalid(
            'This JWK\'s "key_ops" does not include "verify", so it may not be used to check signatures. '
            'Add "verify" or remove "key_ops".'
        )


def _check_alg(obj: dict, *, allowed: tuple[str, ...], kind: str, fits: str) -> None:
    alg = obj.get("alg")
    if alg is None or alg in allowed:
        return
    if alg in ("PS256", "PS384", "PS512") and kind == "an RSA key":
        raise KeyImportError(
            "unsupported_key",
            f'This RSA JWK is for "alg": "{alg}" (RSA-PSS); Signet verifies RSA keys with RS256, RS384 or RS512 '
            "only. Sign with one of those and change alg, or remove alg.",
        )
    named = f'"alg": "{alg}"' if isinstance(alg, str) and alg in _KNOWN_ALGS else '"alg"'
    raise _invalid(f"This JWK's {named} does not fit {kind}, which signs with {fits}. Fix alg (or crv), or remove alg.")


def _b64url_member(obj: dict, name: str, *, size: int | None = None, crv: str = "") -> bytes:
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise _invalid(f'This JWK lacks its "{name}" member (a base64url string).')
    stripped = value.rstrip("=")
    if not _B64URL.fullmatch(stripped) or len(stripped) % 4 == 1:
        raise _invalid(f'The JWK member "{name}" is not valid base64url (A-Z a-z 0-9 - _); it may be cut or edited.')
    raw = base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    if size is not None and len(raw) != size:
        raise _invalid(
            f'The JWK member "{name}" is {len(raw)} bytes; on {crv} it must be {size}. '
            "The key is damaged, or crv is wrong."
        )
    return raw
