"""The README and docs/ point at what exists: relative links, pictures, and the commands
they show (each ``python -m translator COMMAND`` answers ``--help``)."""

import re
import subprocess
import sys

import pytest
from conftest import ROOT

PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
COMMAND = re.compile(r"python -m translator ([a-z]+)")
SCRIPT = re.compile(r"python -m (scripts\.[a-z_]+)")


def shown(pattern) -> set[str]:
    return {found for page in PAGES for found in pattern.findall(page.read_text())}


def test_the_readme_is_short_and_every_doc_says_what_it_holds():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250
    for page in PAGES[2:]:
        assert "What you find here" in page.read_text(), page.name


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_points_to_a_file(page):
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+://|#|mailto:", target):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.exists(), f"{page.name} links to {target}, which does not exist"


def test_the_readme_pictures_exist_and_are_small():
    for name in ("heatmap.png", "page.png"):
        picture = ROOT / "docs" / name
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert picture.stat().st_size < 300_000


def test_every_script_shown_exists():
    for module in shown(SCRIPT):
        path = ROOT / module.replace(".", "/")
        assert path.with_suffix(".py").is_file() or (path / "__main__.py").is_file(), module


def test_every_command_shown_exists_and_takes_help():
    commands = shown(COMMAND)
    assert {"train", "translate", "evaluate", "serve", "export"} <= commands
    for command in sorted(commands):
        done = subprocess.run(
            [sys.executable, "-m", "translator", command, "--help"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
        assert done.returncode == 0, f"python -m translator {command} --help: {done.stderr[-500:]}"
        assert "usage:" in done.stdout
