"""The `ago` filter: how pages say when something last happened."""

from datetime import timedelta

from django.template import engines
from django.utils import timezone

from portal.templatetags.signet import ago


def test_within_a_minute_is_just_now_not_zero_minutes():
    now = timezone.now()
    assert ago(now - timedelta(seconds=10)) == "just now"
    assert ago(now + timedelta(seconds=20)) == "just now"  # a clock slightly ahead
    assert ago(now - timedelta(minutes=3, seconds=5)) == "3\xa0minutes ago"  # timesince joins with no-break spaces
    assert ago(now - timedelta(days=2, hours=1)) == "2\xa0days, 1\xa0hour ago"
    assert ago(None) == ""


def test_every_template_can_use_it_without_loading_it():
    html = engines["django"].from_string("{{ when|ago }}").render({"when": timezone.now()})
    assert html == "just now"


def test_the_insights_keys_table_says_just_now_for_a_key_used_this_minute(alice_client, widget_a, registered_ec):
    registered_ec.last_used_at = timezone.now()
    registered_ec.save(update_fields=["last_used_at"])
    html = alice_client.get(f"/t/acme/widgets/{widget_a.public_id}/insights").content.decode()
    assert "just now" in html and "0\xa0minutes" not in html
