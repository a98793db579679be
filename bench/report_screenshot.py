"""Render an audit's report.html in headless Chromium at a laptop width and check it.

Audits a small simulated table shaped like a lab's (a fitness with a threshold,
read depth, plate and well, repeated sequences and a wild type measured many
times), then opens ``report.html`` in Chromium (the ``chromium`` system package)
at 1366 x 900 pixels, offline:

- checks that neither the page nor the worklist table is wider than the window
  (measured by the browser's own layout) and that the page loads nothing from
  the network;
- saves screenshots of the top of the report and of its worklist to
  ``docs/figures/report.png`` and ``docs/figures/report-worklist.png``.

Usage: ``python bench/report_screenshot.py [--out docs/figures] [--keep DIR]``.
Exits 1 when the layout check fails, 2 when Chromium is not installed.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 1366, 900  # a common laptop screen
# Written into the page's body by the injected script: the widths the browser laid out.
_MEASURE = """<script>window.addEventListener('load', () => {
  const wrap = document.querySelector('#worklist .wrap');
  document.body.dataset.layout = JSON.stringify({
    page: document.documentElement.scrollWidth, window: window.innerWidth,
    height: document.documentElement.scrollHeight,
    worklist_top: wrap ? document.getElementById('worklist').offsetTop : 0,
    worklist: wrap ? wrap.scrollWidth : 0, worklist_box: wrap ? wrap.clientWidth : 0,
    images: Array.from(document.images).filter(i => !i.complete || !i.naturalWidth).length});
});</script>"""


def lab_table(n: int = 600, *, seed: int = 3) -> pd.DataFrame:
    """A simulated assay as a lab would bring it: fitness, reads, plate and well,
    40 sequences measured twice and a wild type measured 30 times."""
    from labtriage.simulate import simulate_assay

    table = simulate_assay(n, length=8, noise=0.1, seed=seed)
    rng = np.random.default_rng(seed)
    positive = table["label"].to_numpy() == 1
    table["fitness"] = np.where(positive, rng.normal(1.5, 0.6, n), rng.normal(-0.5, 0.6, n))
    table["fitness"] = table["fitness"].round(4)
    table["reads"] = rng.integers(10, 2000, n)
    table = table.drop(columns=["label"])
    repeated = table.sample(40, random_state=seed)  # measured again, with some scatter
    repeated["fitness"] = (repeated["fitness"] + rng.normal(0, 0.5, 40)).round(4)
    wild_type = table.iloc[[0] * 30].assign(fitness=rng.normal(0.3, 0.8, 30).round(4))
    table = pd.concat([table, repeated, wild_type], ignore_index=True)
    table["plate"] = [f"P{i // 96 + 1}" for i in range(len(table))]
    table["well"] = [f"{'ABCDEFGH'[i % 96 // 12]}{i % 12 + 1}" for i in range(len(table))]
    return table


def find_chromium() -> str | None:
    """The Chromium executable, if installed (Debian's ``chromium`` package)."""
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    return next((path for path in map(shutil.which, names) if path), None)


def _chromium(*args: str) -> subprocess.CompletedProcess:
    command = [find_chromium(), "--headless", "--no-sandbox", "--disable-gpu"]
    # Offline: no proxy, no network at all, so a page that needs a CDN shows it broken.
    command += ["--no-proxy-server", "--proxy-server=127.0.0.1:9", "--hide-scrollbars"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=120, check=True
    )


def screenshot(html_path: Path, png_path: Path, *, top: int = 0, height: int = HEIGHT):
    """Save a WIDTH x ``height`` view of the page from ``top`` pixels down."""
    from PIL import Image  # matplotlib's own dependency

    with tempfile.TemporaryDirectory() as tmp:
        # Headless Chromium shoots from the top of the page: shoot tall enough, then crop.
        full = Path(tmp) / "full.png"
        uri = Path(html_path).resolve().as_uri()
        _chromium(f"--window-size={WIDTH},{top + height}", f"--screenshot={full}", uri)
        Image.open(full).crop((0, top, WIDTH, top + height)).save(png_path, optimize=True)


def layout(html_path: Path) -> dict:
    """Widths the browser laid the page out at in a WIDTH-pixel window, and broken images."""
    text = Path(html_path).read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.html"
        probe.write_text(text.replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
        dom = _chromium(
            f"--window-size={WIDTH},{HEIGHT}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            probe.as_uri(),
        ).stdout
    found = re.search(r'data-layout="([^"]*)"', dom)
    if found is None:
        raise RuntimeError("Chromium did not run the layout probe")
    return json.loads(found[1].replace("&quot;", '"'))


def external_resources(html_text: str) -> list[str]:
    """Addresses the page would fetch from elsewhere (scripts, styles, images, fonts)."""
    return re.findall(r"""(?:src|href)\s*=\s*['"]?((?:https?:)?//[^'" >]+)""", html_text) + [
        url for url in re.findall(r"url\(([^)]*)\)", html_text) if "//" in url
    ]


def fits(measured: dict) -> bool:
    """Neither the page nor its worklist is wider than the window, and every image drew."""
    page = measured["page"] <= measured["window"]
    return page and measured["worklist"] <= measured["worklist_box"] and not measured["images"]


def run_audit(folder: Path) -> Path:
    """The shipped command line on ``folder/lab.csv``, run from ``folder`` so the report
    names the file as a user would; returns the report."""
    command = [sys.executable, "-m", "labtriage.cli", "audit", "lab.csv", "--out", "audit"]
    command += ["--threshold", "0.5", "--sort", "plate,well", "--force", "--quiet"]
    subprocess.run(command, check=True, cwd=folder)
    return folder / "audit" / "report.html"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "figures")
    parser.add_argument("--keep", type=Path, help="keep the audit's outputs in this folder")
    args = parser.parse_args()
    if find_chromium() is None:
        print("chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        lab_table().to_csv(work / "lab.csv", index=False)
        report = run_audit(work)
        measured = layout(report)
        external = external_resources(report.read_text(encoding="utf-8"))
        args.out.mkdir(parents=True, exist_ok=True)
        screenshot(report, args.out / "report.png")
        screenshot(report, args.out / "report-worklist.png", top=measured["worklist_top"])
    print(json.dumps({"layout": measured, "external": external, "fits": fits(measured)}))
    return 0 if fits(measured) and not external else 1


if __name__ == "__main__":
    sys.exit(main())
