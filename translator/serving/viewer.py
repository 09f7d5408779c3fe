"""The alignment viewer: one self-contained HTML page (no CDN, no build step).

Served at ``/`` by ``serve``, where it asks the service for translations, or saved as a
file with the translations inside (``plot --format html``, ``translate --plot DIR --format
html``), which opens in a browser with no server.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

TEMPLATE = Path(__file__).parent / "web" / "viewer.html"


def viewer_html(title: str = "translator", items: list[dict] | None = None) -> str:
    """The page; ``items`` (``Translation.to_dict`` objects) are embedded and shown."""
    data = json.dumps(items, ensure_ascii=False).replace("</", "<\\/")  # safe inside <script>
    page = TEMPLATE.read_text(encoding="utf-8")
    return page.replace("__TITLE__", html.escape(title)).replace("__DATA__", data)


def save_viewer(path: Path, items: list[dict], title: str) -> Path:
    from translator.core.files import atomic_write_text

    atomic_write_text(Path(path), viewer_html(title, items))
    return Path(path)
