"""The deployment files in deploy/ are valid as written (SPEC §16): systemd units and the nginx site."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = ["ridealong.service", "ridealong-worker.service", "ridealong-due.service", "ridealong-due.timer"]

pytestmark = pytest.mark.once_per_ci


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_units_verify(tmp_path):
    """Checked with the paths pointing at this checkout, which has the same layout as /srv/ridealong."""
    for name in UNITS:
        text = (DEPLOY / name).read_text().replace("/srv/ridealong", str(ROOT))
        text = text.replace("/etc/ridealong/ridealong.env", str(DEPLOY / "ridealong.env.example"))
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *[str(tmp_path / n) for n in UNITS]],
        capture_output=True,
        text=True,
    )
    # Users that exist only on the server are fine here; anything else is a mistake in a unit.
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip()
        and "ridealong" in line
        and "Failed to resolve user" not in line
        and "user ridealong" not in line
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.skipif(
    shutil.which("nginx", path="/usr/sbin:/usr/bin") is None, reason="nginx is not installed (make test installs it)"
)
def test_nginx_site_passes_nginx_t(tmp_path):
    certs = tmp_path / "ssl"
    certs.mkdir()
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=ridealong.test",
            "-keyout",
            str(certs / "privkey.pem"),
            "-out",
            str(certs / "fullchain.pem"),
        ],
        check=True,
        capture_output=True,
    )
    site = (DEPLOY / "nginx" / "ridealong.conf").read_text()
    site = site.replace("/etc/ssl/ridealong", str(certs)).replace("/var/log/nginx", str(tmp_path))
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log {tmp_path}/access.log;\n  include {tmp_path}/site.conf;\n}}\n"
    )
    result = subprocess.run(
        [shutil.which("nginx", path="/usr/sbin:/usr/bin"), "-t", "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
