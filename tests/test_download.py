"""`make data`: local copies and downloads from a local HTTP server on 127.0.0.1."""

import hashlib
import http.server
import io
import threading
import zipfile
from functools import partial

import pytest

from translator.core.errors import UserError
from translator.data.download import fetch_corpus


def make_zip(entries: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
    return buffer.getvalue()


@pytest.fixture
def server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    (served / "fra-eng.zip").write_bytes(
        make_zip({"_about.txt": "about", "fra.txt": "Go.\tVa !\n"})
    )
    (served / "evil.zip").write_bytes(make_zip({"fra.txt": "Go.\tVa !\n", "../evil.txt": "pwned"}))
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", served
    httpd.shutdown()
    httpd.server_close()


def test_download_extracts_the_corpus(server, tmp_path):
    url, _ = server
    data_dir = tmp_path / "data"
    target = fetch_corpus(f"{url}/fra-eng.zip", data_dir / "fra-eng" / "fra.txt", data_dir)
    assert target.read_text(encoding="utf-8") == "Go.\tVa !\n"
    assert [p.name for p in target.parent.iterdir()] == ["fra.txt"]


def test_entry_outside_data_dir_is_refused(server, tmp_path):
    url, _ = server
    data_dir = tmp_path / "data"
    with pytest.raises(UserError, match=r"'\.\./evil\.txt'.*outside"):
        fetch_corpus(f"{url}/evil.zip", data_dir / "fra-eng" / "fra.txt", data_dir)
    assert not (tmp_path / "data" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    assert not (data_dir / "fra-eng" / "fra.txt").exists()


def test_sha256_and_size_limit(server, tmp_path):
    url, served = server
    data_dir = tmp_path / "data"
    target = data_dir / "fra.txt"
    good = hashlib.sha256((served / "fra-eng.zip").read_bytes()).hexdigest()
    fetch_corpus(f"{url}/fra-eng.zip", target, data_dir, sha256=good)
    target.unlink()
    with pytest.raises(UserError, match="SHA-256"):
        fetch_corpus(f"{url}/fra-eng.zip", target, data_dir, sha256="0" * 64)
    with pytest.raises(UserError, match="limit"):
        fetch_corpus(f"{url}/fra-eng.zip", target, data_dir, max_bytes=10)
    assert not target.exists() and not list(data_dir.glob(".*tmp"))


def test_unreachable_url_and_missing_file(tmp_path):
    with pytest.raises(UserError, match="could not download"):
        fetch_corpus("http://127.0.0.1:9/fra-eng.zip", tmp_path / "fra.txt", tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        fetch_corpus(str(tmp_path / "nope.txt"), tmp_path / "fra.txt", tmp_path)


def test_local_file_and_zip_are_copied(tmp_path):
    (tmp_path / "src.txt").write_text("Go.\tVa !\n", encoding="utf-8")
    target = fetch_corpus(
        str(tmp_path / "src.txt"), tmp_path / "data" / "fra.txt", tmp_path / "data"
    )
    assert target.read_text(encoding="utf-8") == "Go.\tVa !\n"
    (tmp_path / "c.zip").write_bytes(make_zip({"fra.txt": "Run!\tCours !\n"}))
    target = fetch_corpus(str(tmp_path / "c.zip"), tmp_path / "data" / "fra.txt", tmp_path / "data")
    assert target.read_text(encoding="utf-8") == "Run!\tCours !\n"
