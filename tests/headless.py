"""A real headless Chromium for tests: load a page and report what its images did."""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

# Added to a copy of the page only: once everything loaded, the page writes what each image did into its DOM.
PROBE = """<script>window.addEventListener('load', () => {
  const images = [...document.images].map(i => ({alt: i.alt, ok: i.complete && i.naturalWidth > 0,
                                                   width: i.naturalWidth}));
  const out = document.createElement('pre'); out.id = 'probe';
  out.textContent = JSON.stringify(images); document.body.appendChild(out);
});</script>"""


def browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        pytest.fail("no Chromium: .ci/setup_system installs it (apt-get install chromium)")
    return found


def images_of(page: Path) -> list[dict]:
    """Every <img> of ``page`` as the browser saw it: alt, loaded or not, natural width."""
    with tempfile.TemporaryDirectory() as folder:
        probed = Path(folder) / "page.html"
        probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
        dom = subprocess.run([browser(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                              "--disable-background-networking", f"--user-data-dir={folder}/profile",
                              "--virtual-time-budget=10000", "--dump-dom", probed.as_uri()],
                             capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    return json.loads(html.unescape(found.group(1)))


def texts_of(url: str, budget_ms: int = 15000) -> list[str]:
    """The visible text of ``url`` after its scripts ran, one entry per text node."""
    with tempfile.TemporaryDirectory() as folder:
        dom = subprocess.run([browser(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                              "--disable-background-networking", f"--user-data-dir={folder}/profile",
                              "--window-size=1600,1100", f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
                             capture_output=True, text=True, timeout=120).stdout
    dom = re.sub(r"<(script|style)[^>]*>.*?</\1>", "", dom, flags=re.S)
    return [html.unescape(t.strip()) for t in re.split(r"<[^>]+>", dom) if t.strip()]
