"""Bootstrap commands of API.md: exact names, output and exit codes."""

import io

import pytest
from django.core.management import CommandError, call_command

from portal.models import ApiKey, Tenant, hash_api_key


def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_tenant(db):
    output = run("create_tenant", "acme", "--name", "Acme Inc")
    assert Tenant.objects.get(slug="acme").name == "Acme Inc"
    assert "acme" in output


@pytest.mark.parametrize("slug", ["Acme", "-acme", "a b", "", "x" * 51, "ünï"])
def test_create_tenant_bad_slug(db, slug):
    with pytest.raises(CommandError):
        run("create_tenant", slug)
    assert not Tenant.objects.exists()


def test_create_tenant_duplicate(db):
    run("create_tenant", "acme")
    with pytest.raises(CommandError, match="already exists"):
        run("create_tenant", "acme")
    assert Tenant.objects.count() == 1


def test_create_api_key_prints_key_last_and_stores_hash_only(db, client):
    run("create_tenant", "acme")
    output = run("create_api_key", "acme", "--name", "chat backend")
    key = output.strip().splitlines()[-1]
    assert key.startswith("sgn_")
    stored = ApiKey.objects.get()
    assert stored.name == "chat backend"
    assert stored.key_hash == hash_api_key(key) and key not in stored.key_hash
    response = client.get("/api/v1/widgets", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200


def test_create_api_key_unknown_tenant(db):
    with pytest.raises(CommandError, match="Unknown tenant"):
        run("create_api_key", "nope")


def test_commands_exit_non_zero_from_shell(tmp_path):
    """Run through manage.py as ops would: one line on stderr, non-zero exit."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "SIGNET_TESTING": "1"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=root, env=env, check=True)
    ok = subprocess.run(
        [sys.executable, "manage.py", "create_tenant", "demo", "--name", "Demo"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0
    dup = subprocess.run(
        [sys.executable, "manage.py", "create_tenant", "demo"], cwd=root, env=env, capture_output=True, text=True
    )
    assert dup.returncode != 0
    assert len(dup.stderr.strip().splitlines()) == 1
    key = subprocess.run(
        [sys.executable, "manage.py", "create_api_key", "demo"], cwd=root, env=env, capture_output=True, text=True
    )
    assert key.returncode == 0 and key.stdout.strip().splitlines()[-1].startswith("sgn_")
    bad = subprocess.run(
        [sys.executable, "manage.py", "create_api_key", "nope"], cwd=root, env=env, capture_output=True, text=True
    )
    assert bad.returncode != 0 and "Unknown tenant" in bad.stderr


def test_setup_demo_is_idempotent(db, tmp_path):
    from django.contrib.auth import get_user_model

    from widgets.models import Widget

    pw = tmp_path / "pw"
    first = run("setup_demo", "--password-file", str(pw))
    second = run("setup_demo", "--password-file", str(pw))
    assert Tenant.objects.filter(slug="demo").count() == 1
    assert Widget.objects.filter(tenant__slug="demo").count() == 1
    user = get_user_model().objects.get(username="demo")
    password = pw.read_text().strip()
    assert user.check_password(password)
    assert password in first and password in second
