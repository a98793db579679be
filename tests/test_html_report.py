"""report.html in a real browser: headless Chromium at a laptop width, offline.

Skipped where Chromium is not installed (``apt-get install chromium``); the layout
probe and the screenshots are those of ``bench/report_screenshot.py``.
"""

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
import report_screenshot as browser  # noqa: E402

sys.path.remove(str(BENCH))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(browser.find_chromium() is None, reason="needs chromium"),
]


def test_report_fits_a_laptop_screen_and_needs_no_network(lab_audit):
    out, _, _ = lab_audit
    report = out / "report.html"
    measured = browser.layout(report)
    assert measured["window"] == browser.WIDTH
    assert measured["page"] <= measured["window"], measured  # nothing runs off the page
    assert measured["worklist"] <= measured["worklist_box"], measured  # the table wraps
    assert measured["images"] == 0  # every figure drew, with the network off
    assert browser.external_resources(report.read_text()) == []


def test_screenshot_shows_the_report(lab_audit, tmp_path):
    from PIL import Image

    out, _, _ = lab_audit
    png = tmp_path / "report.png"
    browser.screenshot(out / "report.html", png, top=600)
    image = Image.open(png).convert("L")
    assert image.size == (browser.WIDTH, browser.HEIGHT)
    darkest, lightest = image.getextrema()
    assert darkest < 80 and lightest > 200  # text on a light page, not a blank one
