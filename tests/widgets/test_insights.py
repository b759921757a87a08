"""Verification log and insights: aggregation on known sequences, API, page, monitor preview."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from widgets import config, insights, outcomes
from widgets.models import UnsignedField, VerificationLog
from widgets.verification import parse_item

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)


def log(widget, minutes_ago, code, **extra):
    return VerificationLog.objects.create(widget=widget, at=NOW - timedelta(minutes=minutes_ago), code=code, **extra)


@pytest.fixture
def sequence(widget_a, registered_ec):
    """A known sequence: 5 ok (kid site-1), 2 bad_signature, 1 expired, 1 unsigned, 1 monitor would-reject,
    one of them 40 days old (outside every window)."""
    for m in (1, 2, 3, 65, 130):
        log(widget_a, m, "ok", kid="site-1", alg="ES256", payload_format="fields")
    log(widget_a, 5, "bad_signature")
    log(widget_a, 6 * 60 + 5, "bad_signature")
    log(widget_a, 3 * 24 * 60, "expired")
    log(widget_a, 10, "unsigned", unsigned_labels=["page_url", "coupon"], rejected_labels=["coupon"])
    log(widget_a, 11, "unsigned", would_reject="unknown_key", unsigned_labels=["coupon"])
    log(widget_a, 40 * 24 * 60, "bad_signature")
    UnsignedField.objects.create(widget=widget_a, label="page_url")
    return widget_a


def test_24h_window_counts(sequence):
    s = insights.summarize(sequence, "24h", now=NOW)
    assert s["total"] == 9
    assert s["by_code"] == {"ok": 5, "bad_signature": 2, "unsigned": 2}
    assert len(s["series"]) == 24
    assert sum(sum(b["counts"].values()) for b in s["series"]) == 9
    # The newest bucket holds the last hour: 3 ok, 1 bad_signature, 2 unsigned.
    assert s["series"][-1]["counts"] == {"ok": 3, "bad_signature": 1, "unsigned": 2}
    assert s["top_failures"][0]["code"] == "bad_signature" and s["top_failures"][0]["count"] == 2
    assert "R‖S" in s["top_failures"][0]["fix"]


def test_7d_and_30d_windows(sequence):
    week = insights.summarize(sequence, "7d", now=NOW)
    assert week["total"] == 10 and week["by_code"]["expired"] == 1
    assert week["bucket_seconds"] == 6 * 3600
    month = insights.summarize(sequence, "30d", now=NOW)
    assert month["total"] == 10  # the 40-day-old row is outside
    assert len(month["series"]) in (30, 31)


def test_key_share_and_labels(sequence):
    s = insights.summarize(sequence, "24h", now=NOW)
    assert s["keys"][0]["kid"] == "site-1" and s["keys"][0]["count"] == 5 and s["keys"][0]["share"] == 1.0
    labels = {entry["label"]: entry for entry in s["unsigned_labels"]}
    assert labels["coupon"] == {"label": "coupon", "count": 2, "allowlisted": False}
    assert labels["page_url"]["allowlisted"] is True


def test_enforce_preview(sequence):
    p = insights.summarize(sequence, "7d", now=NOW)["enforce_preview"]
    # 3 refused tokens (2 bad_signature + 1 expired) + 1 monitor would-reject, of 10 chats.
    assert p["chats"] == 10 and p["would_be_refused"] == 4 and p["share_refused"] == 0.4
    assert p["would_drop_unsigned"] == 1
    assert {r["code"] for r in p["reasons"]} == {"bad_signature", "expired", "unknown_key"}


def test_empty_widget(widget_a):
    s = insights.summarize(widget_a, "24h", now=NOW)
    assert s["total"] == 0 and s["top_failures"] == [] and s["enforce_preview"]["share_refused"] == 0.0
    assert insights.chart(s)["peak"] == 0


def test_bad_window(widget_a):
    from portal.errors import ServiceError

    with pytest.raises(ServiceError):
        insights.summarize(widget_a, "1y")


def test_key_usage_for_revoke_confirmation(sequence):
    usage = insights.key_usage(sequence, "site-1", now=NOW)
    assert usage["count"] == 5 and usage["share"] == 1.0
    assert insights.key_usage(sequence, "other", now=NOW)["count"] == 0


def test_chart_geometry_busy(sequence):
    s = insights.summarize(sequence, "24h", now=NOW)
    c = insights.chart(s)
    assert c["peak"] == 6
    last = c["bars"][-1]
    assert last["total"] == 6
    # Stacked: segment heights add up to the plot height for the peak bar.
    assert abs(sum(seg["h"] for seg in last["segments"]) - c["plot_h"]) < 0.5
    styles = {entry["code"]: entry for entry in c["legend"]}
    assert styles["bad_signature"]["pattern"] != "solid"  # readable without colour


def test_api_insights(api_a, api_b, sequence):
    status, body = api_a.get(f"/api/v1/widgets/{sequence.public_id}/insights?window=30d")
    assert status == 200
    assert body["window"] == "30d" and body["total"] >= 1
    assert body["from"].endswith("Z")
    status, body = api_a.get(f"/api/v1/widgets/{sequence.public_id}/insights?window=1y")
    assert status == 400 and body["error"]["field"] == "window"
    status, body = api_b.get(f"/api/v1/widgets/{sequence.public_id}/insights")
    assert status == 404


def test_page_renders_svg_for_busy_and_empty(alice_client, bob_client, charlie_client, sequence, widget_a):
    url = f"/t/acme/widgets/{sequence.public_id}/insights?window=30d"
    response = bob_client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<svg" in html and "Top failure reasons" in html and "coupon" in html
    assert charlie_client.get(url).status_code == 404
    VerificationLog.objects.all().delete()
    html = alice_client.get(url).content.decode()
    assert "Nothing to chart yet" in html


def test_a_long_kid_is_shortened_in_the_keys_table_and_kept_whole_in_its_title(alice_client, widget_a, ec_key):
    # A key registered without a kid gets its 43-character thumbprint, which pushed the table's other
    # columns out of the card.
    from keys.services import signing_key_register

    key, _ = signing_key_register(widget=widget_a, public_key=ec_key.public_pem)
    assert len(key.kid) == 43
    html = alice_client.get(f"/t/acme/widgets/{widget_a.public_id}/insights").content.decode()
    assert f'title="{key.kid}">{key.kid[:11]}…</td>' in html
    assert f">{key.kid}<" not in html


def _unsigned_body(label):
    return {"unsigned_data": [{"label": label, "data": "/x", "type": "string"}]}


def test_api_verify_writes_log_rows_in_batches(api_a, widget_a, settings):
    settings.SIGNET = {**settings.SIGNET, "VERIFICATION_LOG_FLUSH_EVERY": 3}
    for label in ("page_url", "page_title"):  # different labels: different rows
        assert api_a.post(f"/api/v1/widgets/{widget_a.public_id}/verify", _unsigned_body(label))[0] == 200
    assert VerificationLog.objects.count() == 0  # buffered
    api_a.post(f"/api/v1/widgets/{widget_a.public_id}/verify", _unsigned_body("referrer"))
    rows = list(VerificationLog.objects.order_by("id"))
    assert [r.unsigned_labels for r in rows] == [["page_url"], ["page_title"], ["referrer"]]
    assert rows[0].code == "unsigned" and rows[0].count == 1
    assert rows[0].api_key_prefix and rows[0].payload_format == "none"


def _record(snapshot, *, latency=0.001, token=None, labels=(), prefix="p", status=200, body=None):
    item = parse_item({"signed_interaction_data": token, "unsigned_data": [{"label": x, "data": 1} for x in labels]})
    outcomes.record(snapshot, item, status, body or {"verified": False}, [], latency=latency, api_key_prefix=prefix)


def test_identical_outcomes_in_one_second_are_one_row_with_their_count(widget_a, monkeypatch):
    snapshot = config.snapshot_for(tenant_id=widget_a.tenant_id, public_id=widget_a.public_id)
    monkeypatch.setattr(outcomes.time, "time", lambda: 1_790_000_000.25)
    _record(snapshot, latency=0.000_100, token="a" * 10)
    _record(snapshot, latency=0.000_400, token="b" * 30)
    _record(snapshot, latency=0.000_100, token="c" * 20)
    _record(snapshot, labels=["page_url"])  # other labels: another row
    _record(snapshot, prefix="q")  # another API key: another row
    monkeypatch.setattr(outcomes.time, "time", lambda: 1_790_000_001.0)
    _record(snapshot)  # the next second: another row
    assert outcomes.flush() == 6
    rows = list(VerificationLog.objects.order_by("id"))
    assert [(r.count, r.unsigned_labels, r.api_key_prefix, int(r.at.timestamp())) for r in rows] == [
        (3, [], "p", 1_790_000_000),
        (1, ["page_url"], "p", 1_790_000_000),
        (1, [], "q", 1_790_000_000),
        (1, [], "p", 1_790_000_001),
    ]
    first = rows[0]
    assert (first.latency_us, first.latency_max_us, first.payload_bytes) == (200, 400, 30)  # mean, slowest, largest
    assert (rows[1].latency_us, rows[1].latency_max_us) == (1000, 1000)
    assert str(first).endswith("unsigned ×3") and not str(rows[1]).endswith("×1")


@pytest.fixture
def rolled_up(widget_a, registered_ec):
    """Rows that each stand for many outcomes, as a busy widget's log holds them."""
    log(widget_a, 1, "ok", kid="site-1", alg="ES256", payload_format="claims", count=40)
    log(widget_a, 2, "ok", kid="site-1", alg="ES256", payload_format="claims", count=2)
    log(widget_a, 3, "bad_signature", count=7)
    log(widget_a, 4, "unsigned", would_reject="unknown_key", unsigned_labels=["coupon"], count=3)
    log(widget_a, 5, "unsigned", unsigned_labels=["coupon", "page_url"], rejected_labels=["coupon"], count=5)
    return widget_a


def test_figures_are_sums_of_row_counts(rolled_up):
    s = insights.summarize(rolled_up, "24h", now=NOW)
    assert s["total"] == 57
    assert s["by_code"] == {"ok": 42, "unsigned": 8, "bad_signature": 7}
    assert sum(sum(slot["counts"].values()) for slot in s["series"]) == 57
    assert s["top_failures"][0] == {
        "code": "bad_signature",
        "count": 7,
        "share": round(7 / 57, 4),
        "fix": insights.FIXES["bad_signature"],
    }
    assert [(k["kid"], k["count"], k["share"]) for k in s["keys"]] == [("site-1", 42, 1.0)]
    assert {u["label"]: u["count"] for u in s["unsigned_labels"]} == {"coupon": 8, "page_url": 5}
    preview = s["enforce_preview"]
    assert (preview["chats"], preview["would_be_refused"], preview["would_drop_unsigned"]) == (57, 10, 5)
    assert [(r["code"], r["count"]) for r in preview["reasons"]] == [("bad_signature", 7), ("unknown_key", 3)]


def test_key_usage_sums_row_counts(rolled_up):
    usage = insights.key_usage(rolled_up, "site-1", now=NOW)
    assert (usage["count"], usage["share"]) == (42, 1.0)
    assert insights.key_usage(rolled_up, "other", now=NOW)["count"] == 0


def test_log_never_holds_values(api_a, widget_a):
    secret = "jane.doe@example.com"
    body = {
        "unsigned_data": [{"label": "email", "data": secret, "type": "string"}],
        "signed_interaction_data": "eyJhbGciOiJub25lIn0.eyJlbWFpbCI6ImphbmUifQ.",
    }
    api_a.post(f"/api/v1/widgets/{widget_a.public_id}/verify", body)
    outcomes.flush()
    row = VerificationLog.objects.get()
    dumped = repr(VerificationLog.objects.values().get())
    assert secret not in dumped and "eyJ" not in dumped
    assert row.unsigned_labels == ["email"]


def test_prune(widget_a):
    log(widget_a, 0, "ok")
    VerificationLog.objects.create(widget=widget_a, at=datetime.now(tz=UTC) - timedelta(days=40), code="ok")
    assert outcomes.prune(days=30) == 1
    assert VerificationLog.objects.count() == 1


def test_prune_records_command_expires_keys_with_audit(widget_a, registered_ec):
    import io

    from django.core.management import call_command

    from keys.models import KeyStatus
    from portal.models import AuditEvent

    registered_ec.expires_at = datetime.now(tz=UTC) - timedelta(minutes=1)
    registered_ec.save()
    out = io.StringIO()
    call_command("prune_records", stdout=out)
    registered_ec.refresh_from_db()
    assert registered_ec.status == KeyStatus.EXPIRED
    assert AuditEvent.objects.filter(action="key.expired", target__endswith="/site-1").count() == 1
    assert "Marked 1 keys expired" in out.getvalue()


def test_enforce_preview_counts_unsigned_drops_while_off(api_a, widget_a):
    """In `off` nothing is dropped, but the preview must say what `enforce` would drop."""
    UnsignedField.objects.create(widget=widget_a, label="page_url")
    body = {
        "unsigned_data": [
            {"label": "page_url", "data": "/", "type": "string"},
            {"label": "coupon", "data": "FREE", "type": "string"},
        ]
    }
    status, answer = api_a.post(f"/api/v1/widgets/{widget_a.public_id}/verify", body)
    assert status == 200 and answer["rejected_unsigned"] == []  # off: nothing dropped now
    outcomes.flush()
    assert VerificationLog.objects.get().rejected_labels == ["coupon"]
    preview = insights.summarize(widget_a, "24h")["enforce_preview"]
    assert preview["would_drop_unsigned"] == 1


def test_chart_time_labels_are_spread_over_the_axis(sequence):
    c = insights.chart(insights.summarize(sequence, "24h", now=NOW))
    xs = [bar["x"] for bar in c["bars"]]
    assert xs == sorted(xs) and len(set(xs)) == len(xs) == 24  # empty buckets have a place too
    assert xs[0] >= c["left"] and xs[-1] < c["width"]
    html_x = {bar["x"] for bar in c["bars"] if not bar["segments"]}
    assert len(html_x) > 1


@pytest.mark.django_db(transaction=True)
def test_background_writer_flushes_without_blocking_the_request(api_a, widget_a, settings):
    """Servers write the log from a background thread: the request that fills the buffer only wakes it."""
    settings.SIGNET = {**settings.SIGNET, "VERIFICATION_LOG_FLUSH_EVERY": 2, "VERIFICATION_LOG_BACKGROUND": True}
    writes_in_request = []
    real_flush = outcomes.flush

    def spying_flush():
        writes_in_request.append(threading.current_thread().name)
        return real_flush()

    outcomes.flush = spying_flush
    try:
        for label in ("page_url", "page_title", "referrer"):  # three rows
            assert api_a.post(f"/api/v1/widgets/{widget_a.public_id}/verify", _unsigned_body(label))[0] == 200
        deadline = time.monotonic() + 10
        while VerificationLog.objects.count() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        writer = outcomes._flusher.current()
        assert writer is not None and writer.is_alive()
    finally:
        outcomes.flush = real_flush
        outcomes.stop_background()  # last flush, and its database connection closed
    assert not writer.is_alive()
    assert VerificationLog.objects.count() == 3
    assert writes_in_request and set(writes_in_request) == {"signet-verification-log"}


def test_buffer_is_bounded_while_the_database_lags(widget_a, settings, caplog, monkeypatch):
    settings.SIGNET = {**settings.SIGNET, "VERIFICATION_LOG_FLUSH_EVERY": 10**9}
    monkeypatch.setattr(outcomes, "MAX_BUFFERED", 5)
    snapshot = config.snapshot_for(tenant_id=widget_a.tenant_id, public_id=widget_a.public_id)
    for index in range(8):
        _record(snapshot, prefix=f"p{index}")  # 8 different rows
    _record(snapshot, prefix="p0")  # a row already buffered still counts its outcome
    assert len(outcomes._buffer) == 5
    assert outcomes.flush() == 6
    assert "3 outcomes dropped" in caplog.text
    assert VerificationLog.objects.count() == 5
    assert VerificationLog.objects.get(api_key_prefix="p0").count == 2


def test_deleting_a_widget_deletes_its_log_rows_and_no_others(widget_a, tenant_a):
    # The log table has no database FK (one lookup per row written): Django's CASCADE does the deleting.
    from widgets.services import widget_create

    other = widget_create(tenant=tenant_a, name="Other chat")
    snapshot = config.snapshot_for(tenant_id=widget_a.tenant_id, public_id=widget_a.public_id)
    other_snapshot = config.snapshot_for(tenant_id=other.tenant_id, public_id=other.public_id)
    for snap, prefix in ((snapshot, "p"), (snapshot, "q"), (other_snapshot, "p")):
        _record(snap, prefix=prefix)
    assert outcomes.flush() == 3
    widget_a.delete()
    assert list(VerificationLog.objects.values_list("widget_id", flat=True)) == [other.pk]
    tenant_a.delete()
    assert not VerificationLog.objects.exists()


def test_ops_see_rolled_up_rows_in_django_admin(client, django_user_model, rolled_up):
    ops = django_user_model.objects.create_superuser("ops", "ops@example.com", "Ops-pass-12345!")
    client.force_login(ops)
    html = client.get("/admin/widgets/verificationlog/?code=ok").content.decode()
    assert '<td class="field-count">40</td>' in html and '<td class="field-count">2</td>' in html
    prefix, rest = rolled_up.public_id.split("_", 1)
    assert f'<td class="field-widget_ref">{prefix}_<wbr>{rest}</td>' in html  # breakable, copies whole
    row = VerificationLog.objects.get(count=40)
    row.latency_us, row.latency_max_us = 180, 950
    row.save()
    html = client.get("/admin/widgets/verificationlog/").content.decode()
    assert '<td class="field-latency">180 / 950 µs</td>' in html
    # Rows are per second, so the list shows the second; no checkbox column (nothing to edit or delete).
    assert 'class="field-second"' in html and f">{row.at:%Y-%m-%d %H:%M:%S}</a></th>" in html
    assert 'name="_selected_action"' not in html


def test_a_writer_that_does_not_know_the_roll_up_columns_still_inserts(widget_a):
    # During a rolling deploy, workers on the previous release insert without count / latency_max_us.
    from django.db import connection

    table = VerificationLog._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (widget_id, at, code, would_reject, kid, alg, payload_format, encrypted, "
            "payload_bytes, latency_us, api_key_prefix, unsigned_labels, rejected_labels) "
            "VALUES (%s, %s, 'ok', '', 'k', 'ES256', 'claims', false, 10, 75, 'p', '[]', '[]')",
            [widget_a.pk, NOW],
        )
    row = VerificationLog.objects.get()
    assert (row.count, row.latency_max_us) == (1, 0)
    assert insights.summarize(widget_a, "24h", now=NOW + timedelta(minutes=1))["total"] == 1


def test_time_labels_alternate_so_phones_can_hide_every_other_one(sequence):
    c = insights.chart(insights.summarize(sequence, "24h", now=NOW))
    labels = [bar["label"] for bar in c["bars"]]
    assert labels[:7] == ["main", "", "", "alt", "", "", "main"]  # 24 hourly bars: a label every 3
    assert labels.count("main") == 4 and labels.count("alt") == 4


def test_the_y_axis_makes_room_for_big_numbers(widget_a):
    log(widget_a, 1, "ok", count=25_000)
    c = insights.chart(insights.summarize(widget_a, "24h", now=NOW))
    assert c["ticks"][-1]["value"] == 25_000
    assert c["left"] >= 16 + 13 * 5  # five digits at the phone's 22-unit type
    assert all(bar["x"] > c["left"] for bar in c["bars"])
    small = insights.chart({**insights.summarize(widget_a, "24h", now=NOW), "series": []})
    assert small["left"] == 44


def test_the_page_marks_the_time_labels_phones_hide(alice_client, widget_a):
    VerificationLog.objects.create(widget=widget_a, at=datetime.now(tz=UTC), code="ok", count=3)
    html = alice_client.get(f"/t/acme/widgets/{widget_a.public_id}/insights?window=24h").content.decode()
    assert html.count('class="tick xlabel"') == 4 and html.count('class="tick xlabel alt"') == 4
    assert html.count('class="tick ytick"') == 3


def test_when_the_batch_write_fails_row_by_row_counts_outcomes_not_rows(widget_a, monkeypatch, caplog):
    from django.db import DatabaseError

    snapshot = config.snapshot_for(tenant_id=widget_a.tenant_id, public_id=widget_a.public_id)
    monkeypatch.setattr(outcomes.time, "time", lambda: 1_790_000_000.5)
    for prefix in ["good"] * 4 + ["bad"] * 3:
        _record(snapshot, prefix=prefix)

    def batch_fails(*args, **kwargs):
        raise DatabaseError("batch")

    monkeypatch.setattr(outcomes, "_copy", batch_fails)  # PostgreSQL
    monkeypatch.setattr(VerificationLog.objects, "bulk_create", batch_fails)  # SQLite
    real_save = VerificationLog.save

    def save(row, *args, **kwargs):
        if row.api_key_prefix == "bad":
            raise DatabaseError("row")
        return real_save(row, *args, **kwargs)

    monkeypatch.setattr(VerificationLog, "save", save)
    assert outcomes.flush() == 4
    assert "3 outcomes not written" in caplog.text
    assert list(VerificationLog.objects.values_list("api_key_prefix", "count")) == [("good", 4)]
