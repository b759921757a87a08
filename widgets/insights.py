"""What the verification log says about a widget: outcomes over time, top failures
with their fix, key usage, unsigned labels seen, and what `enforce` would refuse.

Read-only aggregation over widgets.models.VerificationLog (labels and codes only). A log row
stands for `count` identical outcomes, so every figure is a sum of counts, never a count of rows.
The same figures feed the insights page, the JSON API and the widget page's
enforcement preview.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Max, Q, Sum
from django.db.models.functions import Coalesce, TruncDay, TruncHour

from portal.errors import ServiceError
from widgets.models import VerificationLog, Widget

MAX_LABEL_ROWS = 50_000


@dataclass(frozen=True)
class Window:
    name: str
    span: timedelta
    bucket: timedelta
    trunc: type


WINDOWS = {
    "24h": Window("24h", timedelta(hours=24), timedelta(hours=1), TruncHour),
    "7d": Window("7d", timedelta(days=7), timedelta(hours=6), TruncHour),
    "30d": Window("30d", timedelta(days=30), timedelta(days=1), TruncDay),
}

# What to do about each refusal: shown next to the top failure reasons.
FIXES = {
    "malformed_token": "Send the compact JWS exactly as signed: three base64url parts joined by dots, no quotes, "
    "spaces or line breaks.",
    "token_too_large": "Sign fewer or shorter fields; the token must stay under the size limit.",
    "unsupported_algorithm": "Sign with the algorithm of the registered key: ES256 for a P-256 key, RS256 for RSA. "
    "Never none or HS256.",
    "unknown_key": "Register the public key the website signs with, or set the token's kid to a registered kid.",
    "revoked_key": "The website still signs with a revoked or expired key: deploy the new private key, or register "
    "a new public key.",
    "bad_signature": "Check that the website signs with the private half of a registered key, signs the exact bytes "
    "sent, and uses raw R‖S (not DER) for ES256.",
    "expired": "Sign tokens at the moment the chat starts and check the web server's clock (NTP).",
    "not_yet_valid": "The website's clock runs ahead: sync it with NTP, or drop nbf.",
    "issued_in_future": "The website's clock runs ahead: sync it with NTP.",
    "replayed": "Sign a fresh token with a new jti for every chat start; do not cache signed tokens.",
    "missing_claim": "Add the claims this widget's policy requires, or relax the policy.",
    "invalid_claim": "Send registered claims with their JSON types: exp/iat/nbf as numbers of seconds, "
    "jti as a string.",
    "invalid_payload": "Sign either a JSON array of {label, data, type} objects or a JSON object of claims.",
    "lifetime_too_long": "Give tokens a shorter lifetime (exp closer to iat), or raise the widget's maximum lifetime.",
    "invalid_audience": "Set aud to the audience this widget expects.",
    "invalid_issuer": "Set iss to the issuer this widget expects.",
    "signature_required": "Send signed_interaction_data with every chat start, or turn off 'require token'.",
    "encryption_required": "Encrypt the signed token to the tenant's platform encryption key (JWE).",
    "decryption_failed": "Encrypt to the tenant's current platform key (check its kid) with RSA-OAEP-256 + A256GCM.",
}

SUCCESS_CODES = ("ok", "unsigned")


def window_for(name: str | None) -> Window:
    window = WINDOWS.get(name or "7d")
    if window is None:
        raise ServiceError("invalid_request", "'window' must be one of 24h, 7d, 30d.", field="window")
    return window


def _bucket_start(moment: datetime, window: Window) -> datetime:
    seconds = int(window.bucket.total_seconds())
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _total(condition: Q | None = None) -> Coalesce:
    """The outcomes of the matching rows (0 when none): rows are summed by their count."""
    return Coalesce(Sum("count", filter=condition), 0)


def summarize(widget: Widget, window_name: str | None = "7d", *, now: datetime | None = None) -> dict:
    window = window_for(window_name)
    now = now or datetime.now(tz=UTC)
    start = _bucket_start(now - window.span, window) + window.bucket
    rows = VerificationLog.objects.filter(widget=widget, at__gte=start, at__lte=now)

    buckets: dict[datetime, Counter] = {}
    cursor = start
    while cursor <= now:
        buckets[cursor] = Counter()
        cursor += window.bucket
    by_code: Counter = Counter()
    grouped = rows.annotate(slot=window.trunc("at")).values("slot", "code").annotate(n=Sum("count"))
    for entry in grouped:
        slot = _bucket_start(_aware(entry["slot"]), window)
        buckets.setdefault(slot, Counter())[entry["code"]] += entry["n"]
        by_code[entry["code"]] += entry["n"]
    total = sum(by_code.values())

    failures = [(code, n) for code, n in by_code.most_common() if code not in SUCCESS_CODES]
    would = Counter(dict(rows.exclude(would_reject="").values_list("would_reject").annotate(n=Sum("count"))))
    verified = by_code.get("ok", 0)

    key_counts = dict(rows.filter(code="ok").values_list("kid").annotate(n=Sum("count")))
    keys = []
    for key in widget.signing_keys.order_by("-last_used_at", "-created_at"):
        count = key_counts.get(key.kid, 0)
        keys.append(
            {
                "kid": key.kid,
                "status": key.effective_status,
                "last_used_at": key.last_used_at,
                "count": count,
                "share": round(count / verified, 4) if verified else 0.0,
            }
        )

    seen: Counter = Counter()
    for labels, times in (
        rows.exclude(unsigned_labels=[]).order_by("-at").values_list("unsigned_labels", "count")[:MAX_LABEL_ROWS]
    ):
        for label in labels or ():
            seen[label] += times
    allowlist = set(widget.unsigned_fields.values_list("label", flat=True))
    # Refused by enforce: what monitor let through but would refuse, plus what was refused already.
    refused_chats = sum(would.values()) + sum(n for code, n in by_code.items() if code in FIXES)
    dropping_chats = rows.aggregate(n=_total(~Q(rejected_labels=[])))["n"]

    return {
        "widget": widget.public_id,
        "window": window.name,
        "from": start,
        "to": now,
        "bucket_seconds": int(window.bucket.total_seconds()),
        "total": total,
        "by_code": dict(by_code.most_common()),
        "series": [{"start": slot, "counts": dict(counts)} for slot, counts in sorted(buckets.items())],
        "top_failures": [
            {"code": code, "count": n, "share": round(n / total, 4), "fix": FIXES.get(code, "")}
            for code, n in failures[:10]
        ],
        "keys": keys,
        "unsigned_labels": [
            {"label": label, "count": n, "allowlisted": label in allowlist} for label, n in seen.most_common(50)
        ],
        "enforce_preview": {
            "chats": total,
            "would_be_refused": refused_chats,
            "share_refused": round(refused_chats / total, 4) if total else 0.0,
            "would_drop_unsigned": dropping_chats,
            "reasons": [
                {"code": code, "count": n, "fix": FIXES.get(code, "")}
                for code, n in (would + Counter(dict(failures))).most_common(5)
            ],
        },
    }


def as_json(summary: dict) -> dict:
    """The summary with RFC 3339 times, for the API."""
    from widgets.serializers import rfc3339

    out = dict(summary)
    out["from"], out["to"] = rfc3339(summary["from"]), rfc3339(summary["to"])
    out["series"] = [{"start": rfc3339(s["start"]), "counts": s["counts"]} for s in summary["series"]]
    out["keys"] = [{**k, "last_used_at": rfc3339(k["last_used_at"])} for k in summary["keys"]]
    return out


def key_usage(widget: Widget, kid: str, *, hours: int = 24, now: datetime | None = None) -> dict:
    """How much a key verified recently: for the revoke confirmation."""
    now = now or datetime.now(tz=UTC)
    since = now - timedelta(hours=hours)
    rows = VerificationLog.objects.filter(widget=widget, at__gte=since, code="ok")
    stats = rows.aggregate(n=_total(Q(kid=kid)), last=Max("at", filter=Q(kid=kid)), total=_total())
    total = stats["total"]
    return {
        "hours": hours,
        "count": stats["n"],
        "last": stats["last"],
        "share": round(stats["n"] / total, 4) if total else 0.0,
    }


# --- Chart ------------------------------------------------------------------

# Colour AND pattern per outcome, so the chart reads without colour.
PALETTE = {
    "ok": ("#2f7d4f", "solid", "verified"),
    "unsigned": ("#8a94a6", "dots", "unsigned only"),
}
FAILURE_STYLES = [
    ("#c0392b", "diagonal"),
    ("#d68910", "cross"),
    ("#7d3c98", "horizontal"),
    ("#1f618d", "vertical"),
    ("#a04000", "grid"),
    ("#555555", "diagonal2"),
]


def chart(summary: dict, *, width: int = 760, height: int = 220) -> dict:
    """Geometry of a stacked bar chart for the template (server-side SVG, no external assets)."""
    codes = list(summary["by_code"])
    styles = {}
    failure_index = 0
    for code in codes:
        if code in PALETTE:
            colour, pattern, label = PALETTE[code]
        else:
            colour, pattern = FAILURE_STYLES[failure_index % len(FAILURE_STYLES)]
            failure_index += 1
            label = code.replace("_", " ")
        styles[code] = {"code": code, "colour": colour, "pattern": pattern, "label": label}
    series = summary["series"]
    peak = max((sum(s["counts"].values()) for s in series), default=0)
    # Room for the y-axis numbers, also at the larger type phones get (static/css/insights.css).
    left, bottom, top = max(44, 16 + 13 * len(str(peak))), 24, 14
    label_every = max(1, len(series) // 8)
    plot_w, plot_h = width - left - 8, height - bottom - top
    bar_w = plot_w / max(len(series), 1)
    bars = []
    for index, slot in enumerate(series):
        y = top + plot_h
        segments = []
        for code in codes:
            n = slot["counts"].get(code, 0)
            if not n:
                continue
            h = plot_h * n / peak if peak else 0
            y -= h
            segments.append(
                {
                    "x": round(left + index * bar_w + 1, 2),
                    "y": round(y, 2),
                    "w": round(max(bar_w - 2, 1), 2),
                    "h": round(h, 2),
                    "code": code,
                    "n": n,
                    "style": styles[code],
                }
            )
        bars.append(
            {
                "start": slot["start"],
                "x": round(left + index * bar_w + 1, 2),  # also for empty buckets: the time labels need it
                # Every label_every-th bar has a time label; every other one of those ("alt") is hidden
                # on narrow screens, where the labels are drawn larger.
                "label": _label(index, label_every),
                "segments": segments,
                "total": sum(slot["counts"].values()),
            }
        )
    ticks = [{"value": round(peak * f), "y": round(top + plot_h * (1 - f), 2)} for f in (0, 0.5, 1)] if peak else []
    return {
        "width": width,
        "height": height,
        "left": left,
        "top": top,
        "plot_h": plot_h,
        "plot_bottom": top + plot_h,
        "bars": bars,
        "legend": list(styles.values()),
        "ticks": ticks,
        "peak": peak,
        "bar_w": bar_w,
    }


def _label(index: int, every: int) -> str:
    """'' (no time label), 'main' or 'alt' (hidden on phones) for the bar at `index`."""
    if index % every:
        return ""
    return "alt" if index // every % 2 else "main"
