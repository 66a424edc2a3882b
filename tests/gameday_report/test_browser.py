"""report.html in a real browser: headless Chromium runs its script, renders one lane per target, and paints.

Needs Debian's ``chromium`` at /usr/bin/chromium (CI installs it in .ci/run). A missing browser is a
failure, not a skip: a report nobody can see rendered is not tested.
"""

from __future__ import annotations

import re
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

import pytest

from chaos.gameday.report import VERDICT_COLOURS, write_reports
from tests.gameday_report.conftest import GameDay

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",  # CI containers run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
TIMEOUT = 120


def _chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium package (apt-get update && apt-get install -y chromium)"
        )
    return CHROMIUM


def _run(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    cmd = [_chromium(), *FLAGS, f"--user-data-dir={profile}", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, check=False)  # noqa: S603
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"chromium did not finish in {TIMEOUT}s: {exc}")
    assert proc.returncode == 0, f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}"
    return proc


# ------------------------------------------------------------------------------------------ PNG
def decode_png(data: bytes) -> tuple[int, int, int, bytes]:
    """Width, height, bytes per pixel and raw unfiltered pixels of an 8-bit RGB/RGBA PNG (stdlib only)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height, bpp = 8, bytearray(), 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if ctype == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
            bpp = 3 if colour == 2 else 4
        elif ctype == b"IDAT":
            idat += body
        elif ctype == b"IEND":
            break
    raw = zlib.decompress(bytes(idat))
    stride = width * bpp
    out = bytearray(height * stride)
    prev = bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        if ftype == 1:  # Sub
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif ftype == 2:  # Up
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=True))
        elif ftype == 3:  # Average
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:  # Paeth
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        out[y * stride : (y + 1) * stride] = line
        prev = line
    return width, height, bpp, bytes(out)


def _hex(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _near(pixels: Counter[tuple[int, int, int]], colour: str, tolerance: int = 6) -> int:
    want = _hex(colour)
    return sum(n for px, n in pixels.items() if all(abs(a - b) <= tolerance for a, b in zip(px, want, strict=True)))


# ---------------------------------------------------------------------------------------- tests
LANE = re.compile(r'<g class="lane[^"]*" data-target="([^"]+)"[^>]*>')


def _lane_markup(dom: str, target: str) -> str:
    """The markup of one lane: from its opening tag to the next lane's (or the end of the SVG)."""
    start = dom.index(f'data-target="{target}"')
    nxt = LANE.search(dom, start + 1)
    return dom[start : nxt.start() if nxt else dom.index("</svg>", start)]


def test_browser_renders_swimlanes(gameday: GameDay, tmp_path: Path) -> None:
    paths = write_reports(gameday.journal, tmp_path / "report")
    url = paths["html"].resolve().as_uri()
    dom = _run(["--dump-dom", url], tmp_path / "profile-dom").stdout

    # the script ran (it marks the document) and laid out every lane, all visible
    assert re.search(r'<html[^>]*data-js="ready"', dom), dom[:500]
    targets = LANE.findall(dom)
    assert sorted(targets) == sorted(f"{tl.kind}:{tl.id}" for tl in gameday.timelines) and len(targets) == 7
    assert "7 of 7 lanes shown" in dom and "display: none" not in dom
    svg = re.search(r'<svg id="swimlane"[^>]*height="(\d+)"', dom)
    assert svg is not None and int(svg.group(1)) == 58 + 7 * 30 + 10  # axis + lanes + padding
    lane1 = _lane_markup(dom, "pair:pair-1")
    for marker in ('class="m-call s5"', 'class="m-fault"', 'class="m-effect"'):
        assert marker in lane1, f"{marker} missing from pair-1's lane"
    assert 'class="m-replay s2"' in _lane_markup(dom, "pair:pair-2")
    assert "fault lost-ack-504 on FailoverDiskReplicaPair" in lane1  # the hover title
    assert 'class="m-effect via"' in _lane_markup(dom, "pair:pair-g0")
    assert 'class="m-flip"' in _lane_markup(dom, "pair:pair-other")

    shot = tmp_path / "report.png"
    _run([f"--screenshot={shot}", "--window-size=1400,1300", url], tmp_path / "profile-shot")
    data = shot.read_bytes()
    assert len(data) > 20_000, f"screenshot is only {len(data)} bytes"
    width, height, bpp, raw = decode_png(data)
    assert (width, height) == (1400, 1300)
    pixels: Counter[tuple[int, int, int]] = Counter(
        (raw[i], raw[i + 1], raw[i + 2])
        for i in range(0, len(raw), bpp * 3)  # every 3rd pixel is plenty
    )
    assert len(pixels) > 50, f"only {len(pixels)} colours: a blank page?"
    assert pixels.most_common(1)[0][1] < 0.9 * sum(pixels.values()), "the page is one colour"
    assert _near(pixels, VERDICT_COLOURS["pass"]) > 5000, "no big green PASS banner"
    assert _near(pixels, "#c026d3", 20) > 3, "no fault marker painted"
    assert _near(pixels, "#7c3aed", 20) > 3, "no effect marker painted"


def test_filter_from_url_fragment(gameday: GameDay, tmp_path: Path) -> None:
    # --dump-dom cannot type into the box; the fragment drives the same code path
    url = write_reports(gameday.journal, tmp_path / "report")["html"].resolve().as_uri()
    dom = _run(["--dump-dom", f"{url}#filter=pair-g"], tmp_path / "profile").stdout
    assert "2 of 7 lanes shown" in dom
    hidden = re.findall(r'<g class="lane[^"]*" data-target="([^"]+)"[^>]*style="display: none;"', dom)
    assert sorted(hidden) == ["group:pg-1", "pair:pair-0", "pair:pair-1", "pair:pair-2", "pair:pair-other"]
    # the visible ones were packed to the top
    assert re.search(r'data-target="pair:pair-g0"[^>]*transform="translate\(0,58\)"', dom)
    assert re.search(r'data-target="pair:pair-g1"[^>]*transform="translate\(0,88\)"', dom)


def test_empty_journal_renders(gameday: GameDay, tmp_path: Path) -> None:
    journal = gameday.journal.model_copy(update={"timelines": []})
    dom = _run(
        ["--dump-dom", write_reports(journal, tmp_path / "empty")["html"].resolve().as_uri()], tmp_path / "p"
    ).stdout
    assert re.search(r'<html[^>]*data-js="ready"', dom)
    assert "0 of 0 lanes shown" in dom and '<g class="lane' not in dom


def test_hostile_journal_in_browser(tmp_path: Path) -> None:
    # what the browser built from the page: the hostile strings stayed text, our script (and only it) ran
    from tests.gameday_report.test_report import _hostile_journal

    url = write_reports(_hostile_journal(), tmp_path / "evil")["html"].resolve().as_uri()
    dom = _run(["--dump-dom", url], tmp_path / "p").stdout
    assert re.search(r'<html[^>]*data-js="ready"', dom)
    assert len(re.findall(r"<script\b", dom)) == 1
    assert not re.search(r"<(img|iframe|a|object|embed)\b", dom), "an injected element made it into the DOM"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom and "1 of 1 lanes shown" in dom


def test_browser_shows_labels_and_group_members(gameday: GameDay, tmp_path: Path) -> None:
    url = write_reports(gameday.journal, tmp_path / "report")["html"].resolve().as_uri()
    dom = _run(["--dump-dom", url], tmp_path / "profile").stdout
    tiles = dict(re.findall(r'<div class="card"><div class="k">([^<]*)</div><div class="v">([^<]*)</div>', dom))
    assert {"Duration", "API calls", "Effects", "Time to failover (s)", "Eligible targets"} <= set(tiles), tiles
    assert not {"apiCalls", "timeToFailoverS", "durationS"} & set(tiles)
    member = _lane_markup(dom, "pair:pair-g0")
    # pg-1 failed over as a unit (the re-notification found it done): its members say so
    # instead of "ineligible / no outcome"
    assert "with group pg-1" in member and "alreadyFailedOver with group" in member
    assert "ineligible" not in member and "no outcome" not in member
    assert "ineligible" in _lane_markup(dom, "pair:pair-other")
