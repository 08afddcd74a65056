"""The README's admin console screenshots, made again: ``python scripts/admin_screenshots.py [OUT_DIR]``.

Builds a fresh data dir in a temporary folder (``policybot index build``, ``policybot demo --dev``), serves it
with ``policybot serve --dev`` on a free loopback port, signs in as the sample HR person (hana) in headless
Chromium (Debian's ``chromium``, driven by Playwright, as the browser tests) and saves
``admin-documents.png``, ``admin-gaps.png`` and ``admin-cases.png`` (1280 px wide, whole page) in OUT_DIR
(default ``docs/screenshots``). Exit 1 when a step fails or the page logs an error.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


async def shoot(url: str, out: Path) -> list[str]:
    """Save the three screenshots from the server at ``url`` into ``out``; returns the page's errors."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        page = await browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.on(
            "console",
            lambda m: (
                errors.append(f"console {m.type}: {m.text}")
                if m.type == "error" and "status of 401" not in m.text  # the first visit, before signing in
                else None
            ),
        )
        await page.goto(url + "/admin/")
        await page.get_by_label("Sign in as").select_option("hana")
        async with page.expect_navigation():
            await page.get_by_role("button", name="Switch").click()
        await page.locator("#documents-table tbody tr").first.wait_for()
        await page.mouse.move(0, 0)
        await page.screenshot(path=str(out / "admin-documents.png"), full_page=True)
        await page.evaluate("location.hash = '#gaps'")
        await page.locator("#gaps-table tbody tr").first.wait_for()
        await page.locator("#gaps-table tbody tr").first.get_by_role("button", name=re.compile("^Closest")).click()
        await page.locator(".closest-row blockquote").first.wait_for()
        await page.wait_for_timeout(500)  # the chart's animation, the status line's announcement
        await page.evaluate("document.activeElement.blur(); document.getElementById('status').textContent = ''")
        await page.screenshot(path=str(out / "admin-gaps.png"), full_page=True)
        await page.evaluate("location.hash = '#cases'")
        await page.locator("#cases-table tbody tr").first.wait_for()
        await page.wait_for_timeout(500)
        await page.evaluate("document.activeElement.blur(); document.getElementById('status').textContent = ''")
        await page.screenshot(path=str(out / "admin-cases.png"), full_page=True)
        await browser.close()
    return errors


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, POLICYBOT_DATA_DIR=tmp, HF_HUB_OFFLINE="1")
        for step in (["index", "build"], ["demo", "--dev"]):
            subprocess.run([str(BIN / "policybot"), *step], env=env, check=True, stdout=subprocess.DEVNULL)
        server = subprocess.Popen(
            [str(BIN / "policybot"), "serve", "--dev", "--port", "0"], env=env, stdout=subprocess.PIPE, text=True
        )
        try:
            assert server.stdout is not None
            found = re.search(r"serving on (http://\S+)", server.stdout.readline())
            if not found:
                print("error: the server did not start", file=sys.stderr)
                return 1
            errors = asyncio.run(shoot(found.group(1), out))
        finally:
            server.terminate()
            server.wait(30)
    for e in errors:
        print(e, file=sys.stderr)
    print(f"saved admin-documents.png, admin-gaps.png and admin-cases.png in {out}")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
