"""Production settings a security review signs off (SPEC §12): fail closed, deploy checks clean, strict CSP."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The production environment the README's deployment section gives.
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "a-long-random-secret-key-for-the-check-only-0123456789abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "ridealong.example.nhs.uk",
    "CSRF_TRUSTED_ORIGINS": "https://ridealong.example.nhs.uk",
    "SITE_URL": "https://ridealong.example.nhs.uk",
    "TRUST_X_FORWARDED_PROTO": "true",
}


def manage(*args, env):
    unset = ("SECRET_KEY", "RIDEALONG_HTTPS", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE")  # the browser tests set the last
    clean = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True
    )


def test_check_deploy_with_the_readmes_production_settings_reports_nothing():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_without_a_secret_key_the_app_refuses_to_start():
    result = manage("check", env={k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_https_is_enforced_unless_turned_off(client, settings):
    from django.test import override_settings

    with override_settings(SECURE_SSL_REDIRECT=True, SECURE_HSTS_SECONDS=31536000):
        redirected = client.get("/sign-in/")
        assert redirected.status_code == 301 and redirected["Location"].startswith("https://")
        secure = client.get("/sign-in/", secure=True)
        assert "max-age=31536000" in secure["Strict-Transport-Security"]


@pytest.mark.parametrize(
    "path", ["/sign-in/", "/", "/shifts/", "/bookings/", "/calendar/", "/api-tokens/", "/learning/", "/my-data/"]
)
def test_every_page_has_a_strict_csp_and_no_inline_script(client, requester, path):
    if path != "/sign-in/":
        client.force_login(requester)
    response = client.get(path)
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    html = response.content.decode()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag, tag
    assert not re.search(r"\son[a-z]+=\"", html), "inline event handler"


def test_api_docs_are_served_by_the_app_without_a_cdn(client, db):
    html = client.get("/api/docs/").content.decode()
    assert "cdn" not in html.lower()
    assert all(src.startswith("/") for src in re.findall(r'src="([^"]+)"', html))
