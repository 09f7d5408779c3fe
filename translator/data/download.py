"""``make data``: put the corpus at ``data/fra-eng/fra.txt`` from a local file, a zip or a URL.

Downloads show a progress bar, stop at a size limit, can check a SHA-256, and land through
a temporary file and an atomic rename, so an interrupted download leaves no half file.
Zip extraction refuses any entry whose path would land outside the data directory.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from tqdm import tqdm

from translator.core.errors import UserError
from translator.core.files import atomic_path

DEFAULT_URL = "https://www.manythings.org/anki/fra-eng.zip"
MAX_BYTES = 200 * 2**20
CHUNK = 1 << 16


def download(url: str, target: Path, max_bytes: int = MAX_BYTES, sha256: str | None = None) -> Path:
    """Fetch ``url`` into ``target`` atomically, with a progress bar and a size limit."""
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "translator-nmt"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response, atomic_path(target) as tmp:
            total = int(response.headers.get("Content-Length") or 0) or None
            if total and total > max_bytes:
                raise UserError(f"{url} is {total} bytes, over the {max_bytes}-byte limit")
            received = 0
            with (
                open(tmp, "wb") as out,
                tqdm(
                    total=total, unit="B", unit_scale=True, desc=f"download {Path(url).name}"
                ) as bar,
            ):
                while chunk := response.read(CHUNK):
                    received += len(chunk)
                    if received > max_bytes:
                        raise UserError(
                            f"{url} sent more than the {max_bytes}-byte limit; download refused"
                        )
                    digest.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
            if sha256 and digest.hexdigest() != sha256.lower():
                raise UserError(
                    f"{url} has SHA-256 {digest.hexdigest()}, expected {sha256}; download refused"
                )
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        raise UserError(
            f"could not download {url}: {reason}; check the network or give CORPUS=path to a "
            "local copy"
        ) from None
    return target


def safe_extract(archive_path: Path, data_dir: Path, target: Path) -> Path:
    """Extract the corpus ``.txt`` of a zip to ``target``.

    The zip is unpacked into ``target``'s folder, which must lie inside ``data_dir``; any
    entry whose path would land outside that folder (``../evil.txt``, an absolute path)
    makes the whole zip refused before anything is written.
    """
    root = target.parent.resolve()
    if not root.is_relative_to(Path(data_dir).resolve()):
        raise UserError(f"corpus target {target} must lie inside the data directory {data_dir}")
    try:
        with zipfile.ZipFile(archive_path) as archive:
            for member in archive.infolist():
                landing = (root / member.filename).resolve()
                if member.filename.startswith("/") or not landing.is_relative_to(root):
                    raise UserError(
                        f"zip {archive_path.name} has an entry {member.filename!r} that would "
                        f"land outside {target.parent}; refused"
                    )
            members = [
                m
                for m in archive.infolist()
                if m.filename.endswith(".txt") and not Path(m.filename).name.startswith("_")
            ]
            if not members:
                raise UserError(f"zip {archive_path.name} holds no .txt corpus file")
            member = max(members, key=lambda m: m.file_size)
            with archive.open(member) as source, atomic_path(target) as tmp, open(tmp, "wb") as out:
                shutil.copyfileobj(source, out, CHUNK)
    except zipfile.BadZipFile:
        raise UserError(f"{archive_path} is not a valid zip file; download it again") from None
    return target


def default_corpus_path(source: str, data_dir: Path = Path("data")) -> Path:
    """Where a corpus lands: ``spa-eng.zip`` or ``spa.txt`` -> data/spa-eng/spa.txt (as the
    manythings.org files are named); any other file keeps its name: data/NAME/NAME.txt."""
    name = Path(source.split("?")[0]).name
    code = re.match(r"([a-z]{3})(?:-eng)?\.(?:zip|txt)$", name)
    if code:
        return Path(data_dir) / f"{code.group(1)}-eng" / f"{code.group(1)}.txt"
    stem = Path(name).stem or "corpus"
    return Path(data_dir) / stem / f"{stem}.txt"


def fetch_corpus(
    source: str,
    target: Path,
    data_dir: Path = Path("data"),
    sha256: str | None = None,
    max_bytes: int = MAX_BYTES,
) -> Path:
    """Copy a local file, extract a local zip, or download a URL, to ``target``."""
    target = Path(target)
    if source.startswith(("http://", "https://")):
        with tempfile.TemporaryDirectory(
            dir=target.parent if target.parent.exists() else None
        ) as tmp:
            archive = download(source, Path(tmp) / "download.zip", max_bytes, sha256)
            if zipfile.is_zipfile(archive):
                return safe_extract(archive, data_dir, target)
            with atomic_path(target) as out:
                shutil.copyfile(archive, out)
            return target
    path = Path(source)
    if not path.is_file():
        raise UserError(
            f"corpus source {source} does not exist; give CORPUS=path to fra.txt or "
            "fra-eng.zip, or a URL"
        )
    if sha256:
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if actual != sha256.lower():
            raise UserError(f"{path} has SHA-256 {actual}, expected {sha256}")
    if zipfile.is_zipfile(path):
        return safe_extract(path, data_dir, target)
    if path.resolve() != target.resolve():
        with atomic_path(target) as out:
            shutil.copyfile(path, out)
    return target
