"""Every change to what verification reads bumps the widget's config version exactly once,
whatever the write path: model saves through widgets/signals.py, signal-less writes through
config.widget_changed. A warm snapshot is never served after the change."""

from datetime import UTC, datetime, timedelta

import pytest

from keys.services import signing_key_register, signing_key_revoke, signing_keys_expire
from widgets import config
from widgets.models import Widget
from widgets.services import unsigned_field_add, unsigned_field_remove, unsigned_fields_set, widget_update


def version(widget):
    return Widget.objects.values_list("config_version", flat=True).get(pk=widget.pk)


def snapshot(widget):
    return config.snapshot_for(tenant_id=widget.tenant_id, public_id=widget.public_id)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda w, k: widget_update(widget=w, changes={"leeway_seconds": 5}), id="policy"),
        pytest.param(lambda w, k: unsigned_field_add(widget=w, label="page_url"), id="allowlist-add"),
        pytest.param(lambda w, k: unsigned_fields_set(widget=w, labels=["a", "b"]), id="allowlist-put-bulk"),
        pytest.param(lambda w, k: signing_key_revoke(key=k), id="key-revoke"),
    ],
)
def test_each_change_bumps_once_and_drops_the_warm_snapshot(widget_a, registered_ec, change):
    before, warm = version(widget_a), snapshot(widget_a)
    assert snapshot(widget_a) is warm
    change(widget_a, registered_ec)
    assert version(widget_a) == before + 1
    fresh = snapshot(widget_a)
    assert fresh is not warm and fresh.version == before + 1


def test_register_and_remove_bump_once(widget_a, ec_key):
    before = version(widget_a)
    signing_key_register(widget=widget_a, public_key=ec_key.public_pem, kid="k")
    assert version(widget_a) == before + 1
    unsigned_field_add(widget=widget_a, label="page_url")
    unsigned_field_remove(widget=widget_a, label="page_url")
    assert version(widget_a) == before + 3


def test_allowlist_put_that_only_removes_bumps_once(widget_a):
    unsigned_fields_set(widget=widget_a, labels=["a"])
    before = version(widget_a)
    unsigned_fields_set(widget=widget_a, labels=[])
    assert version(widget_a) == before + 1
    assert snapshot(widget_a).allowlist == frozenset()


def test_expiring_keys_with_update_still_invalidates(widget_a, registered_ec):
    registered_ec.expires_at = datetime.now(tz=UTC) + timedelta(hours=1)
    registered_ec.save()
    before, warm = version(widget_a), snapshot(widget_a)
    assert signing_keys_expire(now=datetime.now(tz=UTC) + timedelta(hours=2)) == 1
    assert version(widget_a) == before + 1
    assert snapshot(widget_a) is not warm


def test_key_pks_are_built_once_per_snapshot(widget_a, registered_ec):
    warm = snapshot(widget_a)
    assert warm.key_pks is warm.key_pks
    assert warm.key_pks == {"site-1": registered_ec.pk}
