"""The README's two pictures, made by the project's own commands from a trained run.

    python -m scripts.docs_pictures [--run-dir runs/default] [--out docs]

``docs/heatmap.png``: ``translate --plot`` of one sentence (its attention heatmap).
``docs/page.png``: the alignment page of ``serve``, in headless Chromium (chromium and
chromium-driver, as ``.ci/run`` installs them), after translating the same sentence.
Each picture must stay under 300 KB; the script says so if one does not.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SENTENCE = "Where did you put my new car keys?"
MAX_BYTES = 300_000
TRANSLATOR = [sys.executable, "-m", "translator"]
QUIET = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def translator(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*TRANSLATOR, *args], cwd=ROOT, env=QUIET, check=True)


def heatmap(run_dir: Path, out: Path, sentence: str) -> Path:
    with tempfile.TemporaryDirectory() as plots:
        translator("translate", "--run-dir", str(run_dir), "--plot", plots, sentence)
        made = sorted(Path(plots).glob("attention-*.png"))
        if not made:
            raise SystemExit("error: translate drew no heatmap (an empty translation?)")
        return Path(shutil.copyfile(made[0], out / "heatmap.png"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(run_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [*TRANSLATOR, "serve", "--run-dir", str(run_dir), "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, env=QUIET, stderr=subprocess.PIPE)
    url, deadline = f"http://127.0.0.1:{port}", time.time() + 180
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"error: serve exited: {process.stderr.read().decode()[-1000:]}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as answer:
                if json.load(answer).get("status") == "ok":
                    return process, url
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("error: serve did not answer /health within 180 s")


def page(run_dir: Path, out: Path, sentence: str) -> Path:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        raise SystemExit("error: the page needs chromium and chromium-driver (apt install them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    process, url = serve(run_dir)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    with tempfile.TemporaryDirectory() as profile:
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
            options.add_argument(flag)
        options.add_argument("--window-size=900,760")
        options.add_argument(f"--user-data-dir={profile}")
        browser = webdriver.Chrome(service=Service(driver), options=options)
        try:
            browser.get(url + "/")
            box = browser.find_element(By.ID, "text")
            box.clear()
            box.send_keys(sentence)
            browser.find_element(By.ID, "go").click()
            WebDriverWait(browser, 60).until(lambda b: b.find_elements(By.CSS_SELECTOR, "td.cell"))
            path = out / "page.png"
            browser.save_screenshot(str(path))
        finally:
            browser.quit()
            process.terminate()
            process.wait(timeout=60)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", default="runs/default", help="a trained run")
    parser.add_argument("--out", default="docs", help="folder of the two PNGs")
    parser.add_argument("--sentence", default=SENTENCE, help="what both pictures translate")
    args = parser.parse_args()
    run_dir, out = Path(args.run_dir).resolve(), Path(args.out)
    if not (run_dir / "config.yaml").is_file():
        raise SystemExit(f"error: {run_dir} is not a trained run; run make train first")
    out.mkdir(parents=True, exist_ok=True)
    for path in (heatmap(run_dir, out, args.sentence), page(run_dir, out, args.sentence)):
        size = path.stat().st_size
        print(f"{path}: {size / 1000:.0f} KB")
        if size > MAX_BYTES:
            raise SystemExit(f"error: {path} is {size:,} bytes, over {MAX_BYTES:,}")


if __name__ == "__main__":
    main()
