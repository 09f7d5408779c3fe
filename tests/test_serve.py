"""The translation service on a real loopback port, its page in a real headless browser, and
the SavedModel export loaded where no ``translator`` code can be imported."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from conftest import ROOT, assert_export_translates_like_translate, run_main

from translator.decoding.decode import translate_sentences
from translator.training.rundir import load_run

SENTENCES = ["I see the cat.", "They have a book.", "We want the summer.", "She likes my sister."]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(url, body=None, raw: bytes | None = None, timeout=60):
    """(status, headers, JSON) of a GET, or of a POST of ``body`` as JSON (or ``raw`` bytes)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read() or b"null")


def start_server(run_dir, *args):
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "translator",
            "serve",
            "--run-dir",
            str(run_dir),
            "--port",
            str(port),
            *args,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stderr.read().decode()[-2000:])
        try:
            if request(url + "/health", timeout=2)[0] == 200:
                return process, url
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("the server did not start in 120 s")


@pytest.fixture(scope="module")
def server(trained_run):
    process, url = start_server(trained_run[0], "--max-wait-ms", "300", "--max-queue", "8")
    yield url
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)


def test_translations_equal_the_translate_command_and_rows_sum_to_one(server, trained_run):
    status, _, answer = request(server + "/translate", {"text": SENTENCES, "attention": True})
    assert status == 200
    expected = translate_sentences(load_run(trained_run[0]), SENTENCES)
    assert [t["translation"] for t in answer["translations"]] == [r.text for r in expected]
    for item, result in zip(answer["translations"], expected):
        assert (
            item["target_tokens"] == result.target_tokens
            and item["source_tokens"] == result.source_tokens
        )
        attention = np.asarray(item["attention"])
        assert attention.shape == (len(item["target_tokens"]), len(item["source_tokens"]))
        np.testing.assert_allclose(attention.sum(1), 1.0, atol=1e-3)
    _, _, greedy = request(server + "/translate", {"text": SENTENCES[:1], "beam_size": 1})
    assert greedy["beam_size"] == 1 and "attention" not in greedy["translations"][0]
    _, _, health = request(server + "/health")
    assert (
        health["status"] == "ok" and health["checkpoint"].startswith("step-") and health["backend"]
    )


def test_errors_have_their_status_and_a_json_message(server):
    cases = [
        (dict(raw=b'{"text": ["unclosed"'), 400),
        (dict(body={"text": "not a list"}), 422),
        (dict(body={"text": ["a"], "beam_size": 0}), 422),
        (dict(body={"txt": ["a"]}), 422),
        (dict(body={"text": ["hi"] * 65}), 413),
        (dict(body={"text": ["x" * 2001]}), 413),
        (dict(raw=b'{"text": ["' + b"y" * 300_000 + b'"]}'), 413),
    ]
    for kwargs, status in cases:
        got, _, answer = request(server + "/translate", **kwargs)
        assert got == status and "error" in answer, (kwargs.get("body", "raw"), got, answer)
    got, headers, answer = request(
        server + "/translate", {"text": ["I see the cat."] * 9}
    )  # > --max-queue 8
    assert got == 503 and headers["Retry-After"] == "1" and "queue is full" in answer["error"]


def test_concurrent_requests_share_model_calls_and_a_bad_one_harms_none(server):
    before = request(server + "/health")[2]
    bodies = [{"text": [s]} for s in SENTENCES] + [
        {"text": ["I\x00 see\x07 the \U0001f431 cat.", ""]},
        {"text": 42},
    ]
    answers = [None] * len(bodies)

    def send(i):
        answers[i] = request(server + "/translate", bodies[i])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a[0] for a in answers] == [200] * 5 + [422]
    assert [a[2]["translations"][0]["source"] for a in answers[:4]] == SENTENCES
    assert answers[4][2]["translations"][1]["translation"] == ""
    after = request(server + "/health")[2]
    assert after["sentences"] - before["sentences"] == 6
    assert after["model_calls"] - before["model_calls"] < 5 and after["largest_batch"] >= 2


def test_sigterm_answers_the_request_in_flight_then_exits_0(trained_run):
    process, url = start_server(trained_run[0], "--max-wait-ms", "1500")
    answer = {}
    thread = threading.Thread(
        target=lambda: answer.update(r=request(url + "/translate", {"text": SENTENCES}))
    )
    thread.start()
    time.sleep(0.5)  # the request waits in the batch window
    process.send_signal(signal.SIGTERM)
    thread.join(timeout=60)
    assert answer["r"][0] == 200 and len(answer["r"][2]["translations"]) == 4
    assert process.wait(timeout=60) == 0


def test_command_errors_are_one_line(tmp_path, trained_run):
    done = run_main("serve", "--run-dir", tmp_path / "nothing", "--port", free_port())
    assert done.returncode == 2 and "does not exist" in done.stderr.decode()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = run_main("serve", "--run-dir", trained_run[0], "--port", taken.getsockname()[1])
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 2 and lines[-1].startswith("error: cannot listen on 127.0.0.1:")
    out_of_range = [("--port", 70000), ("--port", 0), ("--max-wait-ms", -1), ("--max-queue", 0)]
    for flag, value in out_of_range:
        done = run_main("serve", "--run-dir", trained_run[0], flag, value)
        lines = done.stderr.decode().strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1
        assert lines[0].startswith(f"error: {flag} must be") and lines[0].endswith(str(value))
    (tmp_path / "exists").mkdir()
    done = run_main("export", "--run-dir", trained_run[0], "--out", tmp_path / "exists")
    assert done.returncode == 2 and "already exists" in done.stderr.decode()


def test_the_page_translates_and_draws_the_api_attention_in_a_browser(server, tmp_path):
    chromedriver = shutil.which("chromedriver")
    if not chromedriver or not shutil.which("chromium"):
        pytest.skip("chromium and chromium-driver are not installed (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1100,900",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        browser.get(server + "/")
        box = browser.find_element(By.ID, "text")
        box.clear()
        box.send_keys("I see the cat.")
        browser.find_element(By.ID, "go").click()
        WebDriverWait(browser, 60).until(lambda b: b.find_elements(By.CSS_SELECTOR, "td.cell"))
        shown = browser.find_element(By.CSS_SELECTOR, ".translation").text
        cells = browser.find_elements(By.CSS_SELECTOR, "td.cell")
        weights = {
            (int(c.get_attribute("data-row")), int(c.get_attribute("data-col"))): float(
                c.get_attribute("data-weight")
            )
            for c in cells
        }
        browser.save_screenshot(str(tmp_path / "page.png"))
    finally:
        browser.quit()
    _, _, answer = request(server + "/translate", {"text": ["I see the cat."], "attention": True})
    item = answer["translations"][0]
    assert shown == item["translation"]
    matrix = np.asarray(item["attention"])
    assert len(weights) == matrix.size
    for (row, col), weight in weights.items():
        assert weight == pytest.approx(matrix[row, col], abs=1e-5)
    assert (tmp_path / "page.png").stat().st_size > 10_000


def test_the_saved_viewer_opens_without_a_server(trained_run, tmp_path):
    done = run_main(
        "translate", "--run-dir", trained_run[0], "--plot", tmp_path, "--format", "html", *SENTENCES
    )
    assert done.returncode == 0, done.stderr.decode()
    page = (tmp_path / "attention.html").read_text()
    assert "<script" in page and "http" not in page.split("<script")[1]  # nothing to fetch
    embedded = json.loads(
        page.split('<script id="data" type="application/json">')[1].split("</script>")[0]
    )
    assert [item["source"] for item in embedded] == SENTENCES


def test_the_export_translates_like_the_translate_command_without_the_project(
    trained_run, tmp_path
):
    assert_export_translates_like_translate(
        trained_run[0], SENTENCES + ["", "We like the zebra !"], tmp_path
    )
