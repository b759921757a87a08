"""Benchmark data for bench/run.py. Run as a script with the bench's environment:

    python bench/seed.py base  --out DIR     one tenant, API key, widget and ES256 key; pre-signed request bodies
    python bench/seed.py scale [--tenants N] 10,000 tenants x 3 widgets x 3 keys (+ one API key each), bulk inserted

`base` goes through the services (what a real tenant does); `scale` bulk-inserts
rows of the same shape, because creating 90,000 keys one service call at a time
would take minutes and measure nothing. Tokens carry NO `jti`: the load repeats
them, and replay refusal must not turn the benchmark into a 422 benchmark.
Signing uses `cryptography` directly, never Signet's own JOSE code.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature  # noqa: E402

KID = "bench-1"
VERIFY_BODIES = 256  # distinct single-verify bodies the load cycles through
BATCH_BODIES = 16  # distinct verify-batch bodies
BATCH_SIZE = 100


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_es256(private_key: ec.EllipticCurvePrivateKey, header: dict, payload: dict) -> str:
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(payload, separators=(",", ":")).encode())
    )
    r, s = decode_dss_signature(private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def visitor_token(private_key, index: int, now: int) -> str:
    """A typical chat-start token: a claims object with a few visitor fields, valid for an hour."""
    payload = {
        "iss": "https://shop.example",
        "sub": f"visitor-{index:06d}",
        "iat": now,
        "exp": now + 3600,
        "name": f"Visitor {index}",
        "email": f"visitor{index}@example.com",
        "plan": "pro",
        "cart_total": 129.5 + index,
    }
    return sign_es256(private_key, {"alg": "ES256", "typ": "JWT", "kid": KID}, payload)


def verify_body(token: str) -> dict:
    return {
        "signed_interaction_data": token,
        "unsigned_data": [{"label": "page", "data": "/pricing", "type": "string"}],
    }


def seed_base(out: Path) -> dict:
    import django

    django.setup()
    from keys.services import signing_key_register
    from portal.services import api_key_create, tenant_create
    from widgets.services import widget_create

    tenant = tenant_create(slug="bench", name="Bench")
    _, raw_key = api_key_create(tenant=tenant, name="bench")
    widget = widget_create(tenant=tenant, name="Bench chat")
    private_key = ec.generate_private_key(ec.SECP256R1())
    public_pem = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    signing_key_register(widget=widget, public_key=public_pem, kid=KID, name="bench")

    now = int(time.time())
    tokens = [visitor_token(private_key, i, now) for i in range(VERIFY_BODIES + BATCH_BODIES * BATCH_SIZE)]
    single, rest = tokens[:VERIFY_BODIES], tokens[VERIFY_BODIES:]
    out.mkdir(parents=True, exist_ok=True)
    (out / "verify.jsonl").write_text("".join(json.dumps(verify_body(t)) + "\n" for t in single))
    batches = [rest[i : i + BATCH_SIZE] for i in range(0, len(rest), BATCH_SIZE)]
    (out / "batch.jsonl").write_text(
        "".join(json.dumps({"items": [verify_body(t) for t in batch]}) + "\n" for batch in batches)
    )
    meta = {
        "api_key": raw_key,
        "widget_id": widget.public_id,
        "public_key_pem": public_pem,
        "tokens": single,
        "batch_body_bytes": max(len(line) for line in (out / "batch.jsonl").read_text().splitlines()),
    }
    (out / "meta.json").write_text(json.dumps(meta))
    return {"widget_id": widget.public_id, "tokens": len(tokens)}


def seed_scale(tenants: int, widgets_per: int, keys_per: int, key_pool: int) -> dict:
    import django

    django.setup()
    from django.db import connection, transaction

    from keys.jose import describe_public_key
    from keys.models import SigningKey
    from portal.models import ApiKey, Tenant, hash_api_key, new_api_key
    from widgets.models import Widget, new_widget_id

    started = time.perf_counter()
    # Distinct keys per widget, drawn from a pool: key generation is not what is measured.
    pool = [describe_public_key(ec.generate_private_key(ec.SECP256R1()).public_key()) for _ in range(key_pool)]
    run = os.urandom(3).hex()
    with transaction.atomic():
        rows = Tenant.objects.bulk_create(
            [Tenant(slug=f"s{run}-{i:05d}", name=f"Scale tenant {i}") for i in range(tenants)], batch_size=2000
        )
        api_keys = []
        for tenant in rows:
            raw, prefix = new_api_key()
            api_keys.append(ApiKey(tenant_id=tenant.pk, name="scale", prefix=prefix, key_hash=hash_api_key(raw)))
        ApiKey.objects.bulk_create(api_keys, batch_size=2000)
        widgets = Widget.objects.bulk_create(
            [
                Widget(tenant_id=tenant.pk, public_id=new_widget_id(), name=f"Widget {w}")
                for tenant in rows
                for w in range(widgets_per)
            ],
            batch_size=2000,
        )
        keys = []
        for n, widget in enumerate(widgets):
            for k in range(keys_per):
                facts = pool[(n * keys_per + k) % key_pool]
                keys.append(
                    SigningKey(
                        widget_id=widget.pk,
                        kid=f"key-{k}",
                        public_key_pem=facts.spki_pem,
                        key_type=facts.key_type,
                        curve=facts.curve or "",
                        bits=facts.bits,
                        algorithms=list(facts.algorithms),
                        fingerprint_sha256=facts.fingerprint_sha256,
                        jwk_thumbprint=facts.jwk_thumbprint,
                        source_format="spki",
                    )
                )
        SigningKey.objects.bulk_create(keys, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # fresh statistics, as autovacuum would have them in production
    return {
        "tenants": len(rows),
        "widgets": len(widgets),
        "keys": len(keys),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    base = sub.add_parser("base", help="the benchmark tenant, widget, key and pre-signed bodies")
    base.add_argument("--out", type=Path, required=True)
    scale = sub.add_parser("scale", help="bulk tenants x widgets x keys")
    scale.add_argument("--tenants", type=int, default=10_000)
    scale.add_argument("--widgets", type=int, default=3)
    scale.add_argument("--keys", type=int, default=3)
    scale.add_argument("--key-pool", type=int, default=301)
    args = parser.parse_args()
    if args.command == "base":
        result = seed_base(args.out)
    else:
        result = seed_scale(args.tenants, args.widgets, args.keys, args.key_pool)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
