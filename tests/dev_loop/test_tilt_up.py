"""The tilt binary itself: the pinned release, and `tilt up` serving the dashboard from inside the binary
(the web UI .ci/setup-tilt.sh builds into it), so the page and its script load with no network."""

from __future__ import annotations

import re

import pytest
import requests

from tests.support.project import load_project_env
from tests.support.tilt import TiltUp, tilt_binary, tiltfile_result

pytestmark = pytest.mark.tilt


def test_tilt_is_the_pinned_release():
    import subprocess

    version = subprocess.run([tilt_binary(), "version"], capture_output=True, text=True, check=True).stdout
    assert version.startswith(f"v{load_project_env()['TILT_VERSION']},"), version


def test_tilt_up_serves_the_dashboard_and_its_script_from_the_binary():
    with TiltUp() as session:
        base = f"http://127.0.0.1:{session.port}"
        page = requests.get(f"{base}/", timeout=10)
        assert page.status_code == 200 and "<title>Tilt</title>" in page.text
        scripts = re.findall(r'<script[^>]*src="([^"]+)"', page.text)
        assert scripts and all(src.startswith("/static/js/") for src in scripts), scripts  # served by Tilt itself
        for src in scripts:
            bundle = requests.get(f"{base}{src}", timeout=10)
            assert bundle.status_code == 200 and "javascript" in bundle.headers["Content-Type"]
            assert len(bundle.content) > 100_000, "the dashboard bundle is missing or a stub"
        # What the dashboard lists: one entry per resource of the Tiltfile, plus the Tiltfile itself.
        names = {item["metadata"]["name"] for item in session.get("uiresource")}
        assert names == {*tiltfile_result().resources, "(Tiltfile)"}
