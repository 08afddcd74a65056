"""The admin console page (``/admin/``) in headless Chromium, against the real server on loopback: HR signs in
with "Sign in as", uploads a Word file, corrects the title in the preview, publishes it, replaces it with a
changed version and reads the changed words in the diff; a case handler acknowledges a case; someone without
a role is told the console is not for them; and axe-like checks on each page.

Like ``tests/test_webchat_browser.py`` (whose helpers these tests use), they are skipped without a
``chromium`` executable, except when ``CI`` is set: there they fail.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from kb_helpers import NORTHBROOK_MD, make_docx
from test_report_support import FLOW, make_service, say
from test_webchat_browser import TIMEOUT_MS, accessibility_problems, chromium_executable, open_page
from webchat_support import WebChatServer

from bot.engine import ConversationEngine

MD = NORTHBROOK_MD.read_text(encoding="utf-8")
ORIGINAL = "Staff must not live-stream from council buildings"
CHANGED = "Staff must never live-stream from council buildings"
NEW_TITLE = "Northbrook social media rules for staff"
#: a refused request logs "Failed to load resource: ... status of 401" in the console; expected before sign-in
REFUSAL = re.compile(r"Failed to load resource: the server responded with a status of (\d+)\b")


@pytest.fixture
def console_engine(fake_bot, tmp_path):
    """An engine on the fake embedder with a reporting service (sample directory, where hana is HR and bob
    manages alice) on the real clock, so deadlines read as the page computes them."""
    svc = make_service(tmp_path / "reports", store=fake_bot.store, clock=lambda: datetime.now(UTC))
    yield ConversationEngine(fake_bot, reporting=svc)
    svc.close()


def unexpected(errors: list[str], refusals: tuple[int, ...] = (401, 403)) -> list[str]:
    """``errors`` but the console lines of refused requests with a status in ``refusals``."""
    return [e for e in errors if not ((m := REFUSAL.search(e)) and int(m.group(1)) in refusals)]


async def sign_in_as(page, user_id: str) -> None:
    """Loopback demo: choose ``user_id`` in "Sign in as" and press Switch (the page reloads)."""
    await page.get_by_label("Sign in as").select_option(user_id)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Switch").click()


async def console_problems(page) -> list[str]:
    """``accessibility_problems`` plus: every control and link has an accessible name, every canvas and image
    a label, exactly one h1, no duplicate ids, landmarks (banner, navigation when shown, main) and a polite
    status region."""
    problems = await accessibility_problems(page)
    problems += await page.evaluate(
        """() => {
          const problems = [];
          const nameOf = (el) => {
            const by = el.getAttribute("aria-labelledby");
            if (by) return by.split(/\\s+/).map((id) => (document.getElementById(id) || {}).textContent || "").join(" ");
            if (el.getAttribute("aria-label")) return el.getAttribute("aria-label");
            if (el.labels && el.labels.length) return Array.from(el.labels).map((l) => l.textContent).join(" ");
            if (el.tagName === "IMG") return el.getAttribute("alt") || "";
            return el.textContent || el.getAttribute("title") || "";
          };
          const controls = "button, input, select, textarea, a[href], summary, [tabindex='0'], canvas, img";
          document.querySelectorAll(controls).forEach((el) => {
            if (!nameOf(el).trim()) problems.push(`${el.tagName.toLowerCase()}#${el.id} has no accessible name`);
          });
          document.querySelectorAll("canvas").forEach((c) => {
            if (c.getAttribute("role") !== "img") problems.push(`canvas#${c.id} is not role=img`);
          });
          if (document.querySelectorAll("h1").length !== 1) problems.push("not exactly one h1");
          const seen = new Set();
          document.querySelectorAll("[id]").forEach((el) => {
            if (seen.has(el.id)) problems.push(`duplicate id ${el.id}`);
            seen.add(el.id);
          });
          if (!document.querySelector("header.top") || !document.querySelector("main"))
            problems.push("no banner or main landmark");
          const nav = document.querySelector("nav");
          if (nav && !nav.hidden && !nav.getAttribute("aria-label")) problems.push("navigation without a name");
          const status = document.getElementById("status");
          if (!status || status.getAttribute("aria-live") !== "polite") problems.push("no polite status region");
          return problems;
        }"""
    )
    return problems


async def upload(page, name: str, data: bytes, mime: str) -> None:
    await page.get_by_label("Policy file").set_input_files(files=[{"name": name, "mimeType": mime, "buffer": data}])
    await page.get_by_role("button", name="Preview", exact=True).click()
    await page.locator("#preview-title").wait_for()


async def test_hr_uploads_edits_publishes_replaces_and_reads_the_changed_words(fake_bot, console_engine):
    from playwright.async_api import expect

    chromium_executable()
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    async with WebChatServer(fake_bot, console_engine) as srv, open_page(srv.url + "/admin") as (page, errors):
        sent: list[tuple[str, str, str | None]] = []
        page.on(
            "request",
            lambda r: (
                sent.append((r.method, r.url, r.headers.get("x-csrf-token")))
                if "/admin/api/" in r.url and r.method in ("POST", "DELETE")
                else None
            ),
        )
        await expect(page.locator("#message-title")).to_have_text("Sign-in needed", timeout=TIMEOUT_MS)
        await sign_in_as(page, "hana")
        await expect(page.locator("#whoami")).to_have_text("Signed in as Hana Hughes (HR)", timeout=TIMEOUT_MS)
        nav = page.get_by_role("navigation", name="Admin sections")
        for link in ("Documents", "Upload", "Unanswered questions", "Cases"):
            await expect(nav.get_by_role("link", name=link, exact=True)).to_be_visible()
        documents = page.locator("#documents-table")
        await documents.locator("tbody tr").first.wait_for()
        assert await nav.get_by_role("link", name="Documents").get_attribute("aria-current") == "page"
        assert await documents.locator("thead th").all_text_contents() == [
            "Id", "Organisation", "Title", "Edition", "Clauses", "Last change", "Actions"
        ]  # fmt: skip
        assert await console_problems(page) == []

        # Upload a Word file: the preview shows what was inferred, editable; focus moves to the preview
        await nav.get_by_role("link", name="Upload", exact=True).click()
        await expect(page.locator("#upload-title")).to_be_focused()
        # a file the server cannot take: its reason next to the file box, which keeps focus
        file_box = page.get_by_label("Policy file")
        await file_box.set_input_files(files=[{"name": "empty.txt", "mimeType": "text/plain", "buffer": b"  \n"}])
        await page.get_by_role("button", name="Preview", exact=True).click()
        await expect(page.locator("#upload-file-error")).not_to_be_empty()
        await expect(file_box).to_be_focused()
        assert await file_box.get_attribute("aria-invalid") == "true"
        assert await page.locator("#preview").is_hidden()
        await upload(page, "northbrook.docx", make_docx(MD), docx)
        await expect(page.locator("#preview-title")).to_be_focused()
        title = page.get_by_label("Title", exact=True)
        assert await title.input_value() == "Social Media Guidance for Staff"
        assert await page.get_by_label("Organisation", exact=True).input_value() == "Northbrook District Council"
        assert (await page.locator("#preview-citation").text_content()).startswith("Citations will read: ")
        await expect(page.locator("#pf-title-source")).to_have_text("From the document.")  # the core's words
        clauses = page.locator("#preview-clauses")
        assert await clauses.locator("li").count() == 12
        assert "3. WhatsApp groups and rota swaps" in await clauses.locator("h4").all_text_contents()
        assert await console_problems(page) == []

        # a refused detail is shown next to its field (nothing published), then corrected
        await title.fill("   ")
        await page.get_by_role("button", name="Publish", exact=True).click()
        await expect(page.locator("#pf-title-error")).to_have_text("Title cannot be empty.")
        await expect(title).to_be_focused()
        assert await title.get_attribute("aria-invalid") == "true"
        assert len(fake_bot.store.documents()) == 5

        # correct the title and publish: the list shows the new title
        await title.fill(NEW_TITLE)
        await page.get_by_role("button", name="Publish", exact=True).click()
        row = documents.locator("tbody tr", has_text=NEW_TITLE)
        await row.wait_for()
        assert await row.locator("th[scope=row]").text_content() == NEW_TITLE
        await expect(page.locator("#status")).to_contain_text(f"Published \u201c{NEW_TITLE}\u201d")
        doc_id = await row.locator("code").text_content()
        assert fake_bot.store.document(doc_id)["title"] == NEW_TITLE

        # a changed version as its replacement ("Replace" preselects the document)
        await row.get_by_role("button", name=f"Replace {NEW_TITLE}").click()
        await expect(page.locator("#upload-title")).to_be_focused()
        assert await page.get_by_label("Replaces (optional)").input_value() == doc_id
        await upload(page, "northbrook-v2.docx", make_docx(MD.replace(ORIGINAL, CHANGED)), docx)
        await expect(page.locator("#preview-summary")).to_contain_text(f"({doc_id}) with version 2")
        await expect(page.locator("#preview-change")).to_contain_text("1 changed")
        await page.get_by_role("button", name="Publish", exact=True).click()
        await expect(page.locator("#status")).to_contain_text("Published version 2 of")
        row = documents.locator("tbody tr", has=page.locator("code", has_text=re.compile(f"^{re.escape(doc_id)}$")))
        await row.get_by_role("button", name=re.compile("^Changes to ")).click()

        # the diff: the changed words in <del>/<ins>, readable without colour
        changed = page.locator("#diff-body li.changed")
        await changed.first.wait_for()
        await expect(page.locator("#diff-title")).to_be_focused()
        assert await changed.count() == 1
        assert [t.strip() for t in await changed.locator("del").all_text_contents()] == ["not"]
        assert [t.strip() for t in await changed.locator("ins").all_text_contents()] == ["never"]
        words = await changed.locator("p.words").text_content()
        assert words.startswith("Staff must not never live-stream from council buildings")  # old word, then new
        assert await page.get_by_label("From version").input_value() == "1"
        assert await page.get_by_label("To version").input_value() == "2"
        assert await console_problems(page) == []

        # Remove asks first: "Keep it" changes nothing, Remove withdraws the document
        await page.get_by_role("link", name="Back to the documents").click()
        row = documents.locator("tbody tr", has=page.locator("code", has_text=re.compile(f"^{re.escape(doc_id)}$")))
        remove = row.get_by_role("button", name=re.compile("^Remove "))
        await remove.click()
        dialog = page.get_by_role("dialog")
        await expect(dialog).to_be_visible()
        await dialog.get_by_role("button", name="Keep it").click()
        await expect(dialog).to_be_hidden()
        await expect(remove).to_be_focused()  # focus goes back to the button that opened it
        assert fake_bot.store.document(doc_id)["status"] == "active"
        await remove.click()
        await dialog.get_by_role("button", name="Remove").click()
        await expect(page.locator("#status")).to_contain_text("are no longer quoted")
        await expect(row).to_have_count(0)
        assert fake_bot.store.document(doc_id)["status"] == "removed"

        # a narrow screen: the tables scroll inside their regions, the page itself does not
        await page.set_viewport_size({"width": 360, "height": 740})
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

        # every state-changing request carried the CSRF token from /admin/api/me
        me = await page.evaluate("fetch('/admin/api/me').then(r => r.json())")
        assert [m for m, _, _ in sent] == ["POST"] * 6 + ["DELETE"], sent
        assert all(token == me["csrf"] for _, _, token in sent), sent
        assert len(unexpected(errors)) == 2  # the empty file and the empty title, both 400
        assert unexpected(errors, refusals=(400, 401)) == []


async def test_gaps_and_cases_pages_have_charts_with_tables(fake_bot, console_engine):
    from playwright.async_api import expect

    chromium_executable()
    fake_bot.gaps.record("Can I livestream a council meeting on TikTok?", "abstained")
    svc = console_engine.reporting
    svc.clock = lambda: datetime.now(UTC) - timedelta(days=3)  # C-00001, submitted three days ago
    for text in FLOW:
        say(console_engine, "dan", text)
    svc.clock = lambda: datetime.now(UTC)
    for text in FLOW:  # C-00002: alice reports now; her manager bob handles it
        say(console_engine, "alice", text)
    async with WebChatServer(fake_bot, console_engine) as srv, open_page(srv.url + "/admin") as (page, errors):
        await sign_in_as(page, "hana")
        nav = page.get_by_role("navigation", name="Admin sections")
        await nav.get_by_role("link", name="Unanswered questions").click()
        await expect(page.locator("#gaps-title")).to_be_focused()
        row = page.locator("#gaps-table tbody tr", has_text="livestream a council meeting")
        await row.wait_for()
        canvas = page.locator("#gaps-chart canvas")
        assert await canvas.get_attribute("role") == "img"
        assert (await canvas.get_attribute("aria-label")).startswith("Bar chart of unanswered questions per week")
        await page.locator("#gaps-chart summary", has_text="Show the data as a table").click()
        assert await page.locator("#gaps-chart table tbody tr").count() == 12
        button = row.get_by_role("button", name=re.compile("^Closest document"))
        await button.click()
        assert await button.get_attribute("aria-expanded") == "true"
        await page.locator(".closest-row blockquote").wait_for()
        assert await console_problems(page) == []
        # handled: dismissed from the list, focus back on the view's heading
        await row.get_by_role("button", name=re.compile("^Dismiss")).click()
        await expect(row).to_have_count(0)
        await expect(page.locator("#gaps-title")).to_be_focused()
        assert fake_bot.gaps.groups() == []

        await nav.get_by_role("link", name="Cases").click()
        case_row = page.locator("#cases-table tbody tr").first
        await case_row.wait_for()
        refs = await page.locator("#cases-table tbody tr th, #cases-table tbody tr td:first-child").all_text_contents()
        assert [r.strip() for r in refs] == ["C-00002", "C-00001"]  # newest first, not by reference
        assert re.fullmatch(r"due in \d+ (hours|days)", await case_row.locator("td.deadline").text_content())
        assert await case_row.locator("td").nth(3).text_content() == "No"  # escalated, in words
        assert await page.locator("#case-counts").inner_text() != ""
        cases_canvas = page.locator("#cases-chart canvas")
        assert await cases_canvas.get_attribute("role") == "img" and await cases_canvas.get_attribute("aria-label")
        assert await console_problems(page) == []
        assert unexpected(errors) == []


async def test_a_handler_acknowledges_a_case(fake_bot, console_engine):
    from playwright.async_api import expect

    chromium_executable()
    for text in FLOW:
        say(console_engine, "alice", text)
    (summary,) = console_engine.reporting.list_cases("bob")
    async with WebChatServer(fake_bot, console_engine) as srv, open_page(srv.url + "/admin") as (page, errors):
        await sign_in_as(page, "bob")
        await expect(page.locator("#whoami")).to_have_text("Signed in as Bob Baker (Case handler)", timeout=TIMEOUT_MS)
        # a handler sees only Cases, and lands there
        nav = page.get_by_role("navigation", name="Admin sections")
        await expect(nav.get_by_role("link", name="Cases")).to_be_visible()
        for link in ("Documents", "Upload", "Unanswered questions"):
            await expect(nav.get_by_role("link", name=link, exact=True)).to_be_hidden()
        await expect(page.locator("#cases-title")).to_be_visible()
        await page.get_by_role("link", name=summary.ref, exact=True).click()
        await expect(page.locator("#case-title")).to_have_text(f"Case {summary.ref}")
        await expect(page.locator("#case-title")).to_be_focused()
        details = page.locator("#case-details")
        await expect(details).to_contain_text("waiting to be acknowledged")
        await expect(page.locator("#case-audit-box")).to_be_hidden()  # the audit log is for HR
        assert await console_problems(page) == []

        await page.get_by_role("button", name="Acknowledge").click()
        await expect(details.locator("dd").first).to_have_text("acknowledged")
        await expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
        await expect(page.get_by_role("button", name="Ask the reporter")).to_be_visible()
        await expect(page.get_by_role("button", name="Close with outcome")).to_be_visible()
        assert console_engine.reporting.list_cases("bob")[0].state == "acknowledged"

        # Ask the reporter: the question goes to them, the case waits for their answer
        await page.get_by_role("button", name="Ask the reporter").click()
        await page.get_by_label("Question for the reporter").fill("Did you reply to the messages?")
        await page.get_by_role("button", name="Send the question").click()
        await expect(details.locator("dd").first).to_have_text("more information requested from the reporter")
        await expect(page.locator("#case-history")).to_contain_text("Did you reply to the messages?")

        # Close with outcome: an empty outcome is refused next to the box; then no more actions
        await page.get_by_role("button", name="Close with outcome").click()
        await expect(page.get_by_label("Outcome")).to_be_focused()
        await page.get_by_role("button", name="Close the case").click()
        await expect(page.locator("#close-text-error")).to_have_text("Write the outcome the reporter will be told.")
        await page.get_by_label("Outcome").fill("Spoken to the family; the contact has stopped.")
        await page.get_by_role("button", name="Close the case").click()
        await expect(details.locator("dd").first).to_have_text("closed")
        await expect(page.locator("#case-actions button")).to_have_count(0)
        assert console_engine.reporting.list_cases("bob")[0].state == "closed"

        # from the keyboard: the skip link first, to the view's heading, the hash (the view) kept
        await page.reload()
        await expect(page.locator("#case-title")).to_have_text(f"Case {summary.ref}")
        await page.keyboard.press("Tab")
        await expect(page.get_by_role("link", name="Skip to the content")).to_be_focused()
        await page.keyboard.press("Enter")
        await expect(page.locator("#case-title")).to_be_focused()
        assert await page.evaluate("window.location.hash") == f"#case/{summary.ref}"

        # an HR-only view falls back to Cases
        await page.evaluate("window.location.hash = '#documents'")
        await expect(page.locator("#cases-title")).to_be_visible()
        assert unexpected(errors) == []


async def test_someone_without_a_role_is_refused(fake_bot, console_engine):
    from playwright.async_api import expect

    chromium_executable()
    async with WebChatServer(fake_bot, console_engine) as srv, open_page(srv.url + "/admin") as (page, errors):
        await expect(page.locator("#message-title")).to_have_text("Sign-in needed", timeout=TIMEOUT_MS)
        await sign_in_as(page, "alice")
        await expect(page.locator("#message-title")).to_have_text("Not available to you", timeout=TIMEOUT_MS)
        await expect(page.locator("#message-text")).to_have_text("The admin console is for HR and case handlers.")
        await expect(page.locator("#whoami")).to_have_text("Signed in as Alice Adams")
        assert await page.get_by_label("Sign in as").input_value() == "alice"
        # the web chat links to the console only for those who may use it: not alice, but hana
        await page.goto(srv.url + "/")
        await expect(page.locator("#chat")).to_be_visible(timeout=TIMEOUT_MS)
        await expect(page.get_by_role("link", name="Admin console")).to_be_hidden()
        await page.get_by_label("Sign in as").select_option("hana")  # the web chat switches in place
        await page.get_by_role("button", name="Switch").click()
        await page.get_by_role("link", name="Admin console").click()
        await expect(page.locator("#documents-title")).to_be_visible(timeout=TIMEOUT_MS)
        await page.goto(srv.url + "/admin/")
        await sign_in_as(page, "alice")
        # an anonymous visitor in the local demo is asked to choose someone (a reload keeps the session)
        await page.evaluate(
            "fetch('/chat/api/identity', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{}'})"
        )
        await page.reload()
        await expect(page.locator("#message-title")).to_have_text("Sign-in needed", timeout=TIMEOUT_MS)
        await expect(page.locator("#whoami")).to_have_text("Not signed in (anonymous)")
        await expect(page.get_by_role("navigation", name="Admin sections")).to_be_hidden()
        assert await page.locator("#documents-table tbody tr").count() == 0
        assert await console_problems(page) == []
        assert unexpected(errors) == []
