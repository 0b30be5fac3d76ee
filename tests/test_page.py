"""The live view (``GET /``) in a real headless Chromium, driven by Playwright.

Chromium is Debian's (``/usr/bin/chromium``; ``.ci/run`` installs it); where
it or Playwright is missing these tests skip, and under ``CI=true`` fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conftest import append, clean_env, missing, wait_for_lines
from test_http import TOKEN, Server
from watchd.writer import AuditWriter

CHROMIUM = os.environ.get("WATCHD_CHROMIUM", "/usr/bin/chromium")
HOSTILE = (
    '<img src=x onerror="window.__pwned=1">',
    "</script><script>window.__pwned=1</script>",
)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only these tests need it
    except ImportError:
        missing("playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).is_file():
        missing(f"no Chromium at {CHROMIUM}: apt-get install chromium (or set WATCHD_CHROMIUM)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


def record(n: int, action: str, container: str, detail: str, when: datetime) -> bytes:
    body = {
        "ts": when.isoformat(),
        "container": container,
        "action": action,
        "dest": f"10.0.0.{n}",
        "detail": detail,
    }
    return json.dumps(body).encode() + b"\n"


def trail_with(path: Path, count: int) -> Path:
    """*count* records over the last hour, a denial every third."""
    now = datetime.now(UTC)
    lines = [
        record(
            n,
            "denied" if n % 3 == 0 else "allowed",
            f"web-{n % 2}",
            f"n={n}",
            now - timedelta(minutes=59) + timedelta(seconds=n * 3540 // max(count, 1)),
        )
        for n in range(count)
    ]
    path.write_bytes(b"".join(lines))
    return path


def serve(watchd, trail: Path, *options: str, env=None) -> Server:
    process = watchd(
        *("run", "--source", f"audit:{trail}", "--from-beginning"),
        *("--sink", f"file:{trail.parent / 'out.jsonl'}", "--http", "127.0.0.1:0", *options),
        env=env,
    )
    return Server(process)


def page_of(browser, server: Server, wait_until: str = "load"):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"http://{server.host}:{server.port}/", wait_until=wait_until)
    return page, errors


def charted(page, count: int) -> None:
    """Wait until the chart's bars count *count* events."""
    page.wait_for_function(
        "count => [...document.querySelectorAll('#chart rect')]"
        ".reduce((sum, bar) => sum + Number(bar.dataset.count), 0) === count",
        arg=count,
    )


def rows(page) -> list[str]:
    return page.locator("#rows tr td.detail").all_text_contents()


def test_live_rows_filters_and_a_screenshot(watchd, browser, tmp_path):
    trail = trail_with(tmp_path / "audit.jsonl", 120)
    server = serve(watchd, trail)
    page, errors = page_of(browser, server)
    page.wait_for_function("() => document.querySelectorAll('#rows tr').length === 120")
    assert rows(page)[0] == "n=119"  # newest on top
    # The rows are drawn from the page itself; the verdict comes after its own request.
    page.locator("#verdict", has_text="integrity: no chained trail").wait_for()
    # The chart counts every event of the last hour, by minute and level.
    charted(page, 120)

    started = time.monotonic()
    append(trail, record(500, "denied", "web-1", "appended now", datetime.now(UTC)))
    page.locator("#rows tr:first-child td.detail", has_text="appended now").wait_for(timeout=5000)
    print(f"appended record shown after {time.monotonic() - started:.3f} s")

    page.fill("#f-action", "denied")
    page.wait_for_function(
        "() => document.querySelectorAll('#rows tr').length === 41 && [...document"
        ".querySelectorAll('#rows td.action')].every(td => td.textContent === 'denied')"
    )
    page.fill("#f-action", "")
    page.fill("#f-container", "web-0")
    page.fill("#f-text", "n=11")  # n=11, n=110..n=119 of web-0: 11 and the even ones
    page.wait_for_function(
        "() => [...document.querySelectorAll('#rows td.detail')]"
        ".map(td => td.textContent).join(',') === 'n=118,n=116,n=114,n=112,n=110'"
    )
    page.fill("#f-text", "")
    page.fill("#f-container", "")
    page.wait_for_function("() => document.querySelectorAll('#rows tr').length === 121")

    # A row opens the whole event and the record as read, with the keyboard.
    page.locator("#rows tr").first.focus()
    page.keyboard.press("Enter")
    assert page.locator("#detail").is_visible()
    assert json.loads(page.locator("#detail-event").text_content())["detail"] == "appended now"
    assert json.loads(page.locator("#detail-record").text_content())["detail"] == "appended now"
    page.keyboard.press("Escape")
    assert not page.locator("#detail").is_visible()

    assert errors == []


def test_a_loki_trail_beside_it_shows_levels_and_its_integrity(watchd, browser, tmp_path):
    """Also the view's screenshots: WATCHD_SCREENSHOT=docs makes docs/live-view*.png."""
    trail = trail_with(tmp_path / "audit.jsonl", 90)
    loki = tmp_path / "loki" / "audit-2026-12-03.jsonl"
    writer = AuditWriter(loki, "loki", chain=True)
    now = datetime.now(UTC)
    for n in range(30):
        failed = n % 4 == 0
        writer.emit(
            timestamp=(now - timedelta(minutes=58) + timedelta(minutes=2 * n)).isoformat(),
            action=("login", "create", "update")[n % 3],
            resource_type="session" if n % 3 == 0 else "task",
            resource_id=str(n),
            user_id=("ann", "bob")[n % 2],
            success=not failed,
            error="bad password" if failed else None,
        )
    server = serve(watchd, trail, "--source", f"audit:{loki.parent}")
    page, errors = page_of(browser, server)
    page.wait_for_function("() => document.querySelectorAll('#rows tr').length === 120")
    page.locator("#verdict", has_text="integrity: chain valid").wait_for()
    integrity = page.locator("#rows td.integrity").all_text_contents()
    assert integrity.count("ok") == 30
    assert integrity.count("") == 90
    levels = page.locator("#rows td.level").all_text_contents()
    assert levels.count("warning") == 15  # logins (10) and failures (8), 3 both: loki's mapping
    charted(page, 120)
    assert set(
        page.locator("#chart rect").evaluate_all("bars => bars.map(b => b.classList[0])")
    ) == {
        "info",
        "warning",
    }
    shot = tmp_path / "live-view.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    # The same at 400 px wide: every event a card, nothing cut off, nothing to scroll sideways.
    page.set_viewport_size({"width": 400, "height": 900})
    page.wait_for_function(
        "() => document.documentElement.scrollWidth <= window.innerWidth && "
        "document.querySelector('#chart').viewBox.baseVal.width === "
        "document.querySelector('#chart').clientWidth"  # the chart drawn again in its pixels
    )
    narrow = tmp_path / "live-view-narrow.png"
    page.screenshot(path=str(narrow))
    if os.environ.get("WATCHD_SCREENSHOT"):  # a directory: docs/
        shutil.copy(shot, Path(os.environ["WATCHD_SCREENSHOT"]) / "live-view.png")
        shutil.copy(narrow, Path(os.environ["WATCHD_SCREENSHOT"]) / "live-view-narrow.png")
    print(f"screenshots: {shot} {narrow}")
    assert errors == []


def test_pause_holds_the_table_and_resume_brings_what_came_meanwhile(watchd, browser, tmp_path):
    trail = trail_with(tmp_path / "audit.jsonl", 3)
    server = serve(watchd, trail)
    page, errors = page_of(browser, server)
    page.wait_for_function("() => document.querySelectorAll('#rows tr').length === 3")
    page.keyboard.press("p")
    assert page.locator("#state").text_content() == "paused"
    now = datetime.now(UTC)
    append(trail, b"".join(record(n, "allowed", "web-0", f"later {n}", now) for n in range(4)))
    out = tmp_path / "out.jsonl"
    deadline = time.monotonic() + 10
    while len(out.read_bytes().splitlines()) < 7 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert page.locator("#rows tr").count() == 3
    page.click("#pause")
    page.wait_for_function("() => document.querySelectorAll('#rows tr').length === 7")
    assert rows(page) == ["later 3", "later 2", "later 1", "later 0", "n=2", "n=1", "n=0"]
    assert errors == []


def test_hostile_records_show_as_text_and_run_nothing(watchd, browser, tmp_path):
    trail = tmp_path / "audit.jsonl"
    now = datetime.now(UTC)
    trail.write_bytes(b"".join(record(n, text, text, text, now) for n, text in enumerate(HOSTILE)))
    server = serve(watchd, trail)
    page, errors = page_of(browser, server)
    page.wait_for_function("() => document.querySelectorAll('#rows tr').length === 2")
    assert rows(page) == list(reversed(HOSTILE))
    assert page.locator("#rows td.action").all_text_contents() == list(reversed(HOSTILE))
    page.locator("#rows tr").first.click()
    assert HOSTILE[1] in page.locator("#detail-record").text_content()
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("img").count() == 0
    assert errors == []


def test_without_the_token_the_page_asks_for_it_and_shows_nothing(watchd, browser, tmp_path):
    trail = trail_with(tmp_path / "audit.jsonl", 5)
    server = serve(watchd, trail, env=clean_env(WATCHD_HTTP_TOKEN=TOKEN))
    page, _ = page_of(browser, server)
    page.locator("#login").wait_for(state="visible")
    assert page.locator("#view").is_hidden()
    assert page.locator("#rows tr").count() == 0
    page.fill("#token", "not-the-token-at-all-0000")
    page.click("#login button")
    page.locator("#login-error", has_text="That token was refused.").wait_for()
    assert page.locator("#rows tr").count() == 0
    page.fill("#token", TOKEN)
    page.click("#login button")
    page.wait_for_function("() => document.querySelectorAll('#rows tr').length === 5")
    assert page.locator("#login").is_hidden()
    # The token is kept for the tab: a reload opens the view without asking again.
    page.reload()
    page.wait_for_function("() => document.querySelectorAll('#rows tr').length === 5")


def test_the_first_paint_has_the_rows_and_says_each_field_in_one_form(watchd, browser, tmp_path):
    trail = trail_with(tmp_path / "audit.jsonl", 40)
    server = serve(watchd, trail)
    wait_for_lines(tmp_path / "out.jsonl", 40)  # read by the run: held for the page
    page, errors = page_of(browser, server, wait_until="domcontentloaded")
    # No waiting: the rows came in the page itself, drawn before its first paint.
    assert page.locator("#rows tr").count() == 40
    assert page.locator("#count").text_content() == "40 newest events"
    times = page.locator("#rows td.ts time")
    # One form, local: 14:03:07 today, Dec 06 14:03:07 before (just after midnight).
    shown = times.all_text_contents()
    assert all(re.fullmatch(r"([A-Z][a-z]{2} \d\d )?\d\d:\d\d:\d\d", t) for t in shown)
    assert (
        times.first.get_attribute("title") == json.loads(trail.read_bytes().splitlines()[-1])["ts"]
    )
    first = page.locator("#rows tr").first
    assert first.locator("td.from").text_content() == "audit.jsonl"
    assert first.locator("td.from").get_attribute("title") == str(trail)
    assert first.locator("td.dest").text_content() == "10.0.0.39"
    # The chart has its axes, their labels and a legend.
    charted(page, 40)
    labels = page.locator("#chart .axis text").all_text_contents()
    assert {"\u221260 min", "\u221230 min", "now", "0"} <= set(labels)  # a minus sign
    legend = page.locator("#legend li").all_text_contents()
    assert legend == ["info 40"]
    # Live from there on: the next record comes once, after the held ones.
    append(trail, record(77, "denied", "web-1", "after the page", datetime.now(UTC)))
    page.locator("#rows tr:first-child td.detail", has_text="after the page").wait_for()
    assert page.locator("#rows tr").count() == 41
    # At 400 px every event is a card: nothing cut off, no time broken over two lines.
    page.set_viewport_size({"width": 400, "height": 800})
    page.wait_for_function("() => document.documentElement.scrollWidth <= window.innerWidth")
    heights = page.locator("#rows td.ts").evaluate_all(
        "cells => cells.map(td => td.getClientRects().length)"
    )
    assert set(heights) == {1}
    assert page.locator("#rows tr").first.locator("td.action").is_visible()
    assert errors == []


def test_a_page_that_needs_a_token_holds_no_record(watchd, tmp_path):
    trail = trail_with(tmp_path / "audit.jsonl", 5)
    server = serve(watchd, trail, env=clean_env(WATCHD_HTTP_TOKEN=TOKEN))
    wait_for_lines(tmp_path / "out.jsonl", 5)
    status, _, body = server.get("/", token=None)
    assert status == 200
    assert b'id="held"' not in body
    assert b"n=4" not in body
    (tmp_path / "b").mkdir()
    open_server = serve(watchd, trail_with(tmp_path / "b" / "audit.jsonl", 5))
    wait_for_lines(tmp_path / "b" / "out.jsonl", 5)
    assert b'"detail":"n=4"' in open_server.get("/")[2]
