"""`/api/docs` in a real browser with no network but loopback: Swagger UI renders from the app's own files.

Debian's `chromium`, headless, resolves every host but 127.0.0.1 to nothing (`--host-resolver-rules`), so a
page that needs a CDN renders no operation, as the second test shows (the first would fail the same way if
the assets came from the internet). `.ci/run` installs chromium; without it these tests skip, unless
FINETUNE_TESTS_REQUIRE names `chromium`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from kits.live_server import finetune_serve

CHROMIUM = shutil.which("chromium")
REQUIRED = "chromium" in os.environ.get("FINETUNE_TESTS_REQUIRE", "").split(",")
pytestmark = pytest.mark.skipif(CHROMIUM is None and not REQUIRED, reason="Debian's chromium is not installed")
WINDOW_HEIGHT = 30000
OPERATION = re.compile(r'class="opblock-summary-path" data-path="([^"]+)"')


def rendered_dom(url: str, profile: Path) -> str:
    """The page's DOM after its scripts ran (virtual time: the browser runs until the page is idle)."""
    assert CHROMIUM is not None, "FINETUNE_TESTS_REQUIRE names chromium, but it is not installed"
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
         # Swagger UI renders a long list (150 tags and operations or more) virtualised, only what the window
         # shows: a window taller than the whole list puts every operation in the DOM
         f"--window-size=1280,{WINDOW_HEIGHT}", "--virtual-time-budget=30000", "--dump-dom", url],
        capture_output=True, text=True, timeout=180, check=True)
    return result.stdout


def test_docs_render_every_operation_offline(tmp_path: Path) -> None:
    with finetune_serve(tmp_path) as live:
        spec = httpx.get(f"{live.base}/api/openapi.json", timeout=30).json()
        dom = rendered_dom(f"{live.base}/api/docs", tmp_path / "profile")
    assert set(OPERATION.findall(dom)) == set(spec["paths"])
    assert "/api/projects/{project_id}" in dom


def test_docs_from_a_cdn_render_nothing_without_internet(tmp_path: Path) -> None:
    with finetune_serve(tmp_path, env={"FINETUNE_SWAGGER_UI_URL": "https://cdn.jsdelivr.net/npm/swagger-ui-dist/"}) \
            as live:
        dom = rendered_dom(f"{live.base}/api/docs", tmp_path / "profile")
    assert 'id="swagger-ui-container"' in dom and not OPERATION.findall(dom)


def test_only_swagger_ui_files_are_served(tmp_path: Path) -> None:
    with finetune_serve(tmp_path) as live:
        bundle = httpx.get(f"{live.base}/api/docs/assets/swagger-ui-bundle.js", timeout=30)
        assert bundle.status_code == 200 and "SwaggerUIBundle" in bundle.text
        assert bundle.headers["content-type"].startswith(("text/javascript", "application/javascript"))
        for name in ("../openapi.json", "index.template.html", "..%2F__init__.py", "nothing.js"):
            assert httpx.get(f"{live.base}/api/docs/assets/{name}", timeout=30).status_code == 404, name
