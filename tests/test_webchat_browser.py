"""The web chat page in headless Chromium (Debian's ``chromium``, driven by Playwright's Python package):
a real question answered with the Cwm Taf quote, part of the report flow with buttons, basic
accessibility, text from the server never becoming markup, and organisation-aware answers (own / other
organisations' headings) and comparisons (an accessible table, from the "Compare policies" button or typed).

Without a ``chromium`` executable these tests are skipped, except when ``CI`` is set: there they fail,
so a CI machine cannot pass by skipping them (``make test`` installs chromium on Debian).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path

import pytest
from test_report_support import WHAT, make_service
from webchat_support import WebChatServer

from bot.engine import ConversationEngine
from bot.messages import Citation, Outbound, Quote

QUESTION = "can I accept a colleague's friend request?"
CWM_TAF_QUOTE = "it is not advisable to accept people you work with as 'friends' on social networking sites"
CWM_TAF = "Cwm Taf Safeguarding Children Board / Safeguarding Adult Board"
TIMEOUT_MS = 30_000
DEBIAN_CHROMIUM = Path("/usr/bin/chromium")


def chromium_executable() -> str:
    """Path of Debian's chromium; skips the test without one (fails instead when ``CI`` is set)."""
    found = shutil.which("chromium") or (str(DEBIAN_CHROMIUM) if DEBIAN_CHROMIUM.is_file() else None)
    problem = None
    if found is None:
        problem = (
            "no chromium executable (install Debian's chromium: apt-get install chromium, "
            "or run `make test`, which does)"
        )
    else:
        try:
            import playwright.async_api  # noqa: F401
        except ImportError:
            problem = "Playwright's Python package is not installed (pip install -e '.[dev]')"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"browser test cannot run on CI: {problem}")
        pytest.skip(problem)
    return found


@contextlib.asynccontextmanager
async def open_page(url: str):
    """A fresh headless Chromium page at ``url``; yields ``(page, errors)``, ``errors`` collecting
    uncaught script errors and console errors (a CSP violation shows there)."""
    from playwright.async_api import async_playwright

    executable = chromium_executable()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=executable, headless=True)
        try:
            page = await browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
            page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
            await page.goto(url + "/")
            yield page, errors
        finally:
            await browser.close()


async def ask(page, text: str) -> None:
    """Type ``text`` in the labelled message box and press Send."""
    box = page.get_by_label("Your question or reply")
    await box.fill(text)
    await page.get_by_role("button", name="Send", exact=True).click()


@pytest.fixture
def reporting_engine(real_bot, tmp_path):
    """An engine on the real model with its own reporting service (sample directory, fixed key) in ``tmp_path``."""
    svc = make_service(tmp_path / "reports", store=real_bot.store)
    yield ConversationEngine(real_bot, reporting=svc)
    svc.close()


@pytest.mark.model
async def test_friend_request_question_shows_the_cwm_taf_quote(real_bot, reporting_engine):
    chromium_executable()
    async with WebChatServer(real_bot, reporting_engine) as srv, open_page(srv.url) as (page, errors):
        log = page.locator("#log")
        await log.get_by_text("Ask me about the social media policies").wait_for()
        # accessibility basics: a labelled box, a polite live region for new messages, a language
        assert await page.get_attribute("html", "lang") == "en-GB"
        box = page.get_by_label("Your question or reply")
        assert await box.evaluate("el => el.tagName") == "TEXTAREA"
        assert await log.get_attribute("role") == "log" and await log.get_attribute("aria-live") == "polite"
        assert await page.locator("#status").get_attribute("aria-live") == "polite"

        await ask(page, QUESTION)
        quote = log.locator("figure.quote", has_text=CWM_TAF_QUOTE)
        await quote.wait_for()
        assert CWM_TAF_QUOTE in await quote.locator("blockquote").inner_text()
        citation = await quote.locator("figcaption cite").inner_text()
        assert citation.startswith(CWM_TAF) and "Social Networking: Practice Guidance" in citation
        assert "OFFICIAL USE OF SOCIAL NETWORKING SITES" in citation
        # the question is shown as the person's own message, the answer inside the live region
        assert await log.locator(".msg.user", has_text=QUESTION).count() == 1
        assert await page.locator("[aria-live] figure.quote").count() >= 1
        # Helpful / Not helpful are buttons, and keep focus on the thanks

        def not_helpful_votes() -> int:
            return sum(g.not_helpful for g in real_bot.gaps.groups() if g.question == QUESTION)

        before = not_helpful_votes()
        feedback = log.locator(".feedback").last
        await feedback.get_by_role("button", name="Not helpful").click()
        await feedback.get_by_text("HR will see").wait_for()
        focused = await page.evaluate("document.activeElement.textContent")
        assert focused.startswith("Thanks")  # focus stays by the vote, not lost to the top of the page
        assert not_helpful_votes() == before + 1
        assert errors == []


@pytest.mark.model
async def test_part_of_the_report_flow_with_buttons(real_bot, reporting_engine):
    chromium_executable()
    async with WebChatServer(real_bot, reporting_engine) as srv, open_page(srv.url) as (page, errors):
        log = page.locator("#log")
        await log.get_by_text("Sign in as").wait_for()
        # "Sign in as" a directory person: a labelled list and a button (moving through the list does not switch)
        await page.get_by_label("Sign in as").select_option("alice")
        await page.wait_for_timeout(300)
        me = await page.evaluate("fetch('/chat/api/me').then(r => r.json())")
        assert me["anonymous"]  # choosing in the list alone switches nobody
        await page.get_by_role("button", name="Switch").click()
        from playwright.async_api import expect

        # the page restarted as alice: her greeting, without the anonymous note
        await expect(log).not_to_contain_text("Reporting needs a directory identity", timeout=TIMEOUT_MS)
        await expect(log).to_contain_text("To report a concern in confidence", timeout=TIMEOUT_MS)
        assert await page.get_by_label("Sign in as").input_value() == "alice"

        await ask(page, "report")
        category = log.get_by_role("button", name="Contact or a friend request from a service user or their family")
        await category.wait_for()
        options = log.locator(".choices").last
        assert await options.get_attribute("role") == "group"
        assert await options.locator("button").count() == await options.locator("*").count()  # all <button>s
        assert all(t == "button" for t in await options.locator("button").evaluate_all("bs => bs.map(b => b.type)"))
        await category.click()
        await log.get_by_text("What happened?").wait_for()
        assert await category.is_disabled()  # a choice is made once
        assert "chosen" in (await category.get_attribute("class"))
        assert await page.get_by_label("Your question or reply").get_attribute("rows") == "6"  # a long answer

        await ask(page, WHAT)
        await log.get_by_text("When did it happen?").wait_for()
        await log.get_by_role("button", name="Not sure").click()
        await log.get_by_text("Where did it happen").wait_for()
        draft = reporting_engine.reporting.cases.load_draft("alice")
        assert draft.category == "service_user_contact" and draft.what == WHAT and draft.when is None

        await log.get_by_role("button", name="Cancel").last.click()
        await log.get_by_text("Report cancelled").wait_for()
        assert reporting_engine.reporting.cases.load_draft("alice") is None
        assert errors == []


class MarkupEngine:
    """An engine whose every answer is made of markup, to show the page inserts it as text."""

    EVIL = '<img src="x" onerror="window.__pwned = 1"><script>window.__pwned = 2</script>'

    def handle(self, inbound) -> list[Outbound]:
        cite = Citation(organisation="Org <b>bold</b>", document=self.EVIL, section="<i>s</i>")
        quote = Quote(clause_id="x:001", text="Quoted " + self.EVIL, lead_in="<u>lead</u>", citation=cite, score=1.0)
        return [Outbound(kind="answer", text="Reply " + self.EVIL, quotes=[quote], question=inbound.text)]


async def test_text_from_the_server_never_becomes_markup(fake_bot):
    chromium_executable()
    async with WebChatServer(fake_bot, MarkupEngine()) as srv, open_page(srv.url) as (page, errors):
        log = page.locator("#log")
        await log.get_by_text("Ask me about the social media policies").wait_for()
        typed = '<img src="y" onerror="window.__pwned = 3"> hello'
        await ask(page, typed)
        await log.locator("figure.quote").wait_for()
        assert await log.locator(".msg.user .msg-text").last.text_content() == typed
        assert MarkupEngine.EVIL in await log.locator("figure.quote blockquote").inner_text()
        assert MarkupEngine.EVIL in await log.locator("figure.quote cite").inner_text()
        assert "<u>lead</u>" in await log.locator("figure.quote .lead-in").inner_text()
        assert await log.locator("img, script, b, i, u").count() == 0
        assert await page.evaluate("window.__pwned") is None
        assert errors == []


FB_QUESTION = "can I accept a friend request from a service user on facebook?"
COMPARE_TOPIC = "friend requests from service users"
WFCS = "Westmorland & Furness Care Services"
COLUMNS = ["Organisation", "Stance", "What the policy says"]
NOTHING = "Nothing on this"


@pytest.fixture
def wfcs_engine(fake_bot, tmp_path):
    """An engine without reporting on the fake embedder; its directory has Olu, of Westmorland & Furness Care
    Services ("wfcs")."""
    from bot.directory import Directory

    path = tmp_path / "directory.toml"
    path.write_text('[[person]]\nid = "olu"\nname = "Olu Okafor"\norganisation = "wfcs"\n', encoding="utf-8")
    return ConversationEngine(fake_bot, reporting=False, directory=Directory.load(path))


async def sign_in_as(page, user_id: str, name: str) -> None:
    """Loopback demo: choose ``user_id`` in "Sign in as", press Switch and wait for the restarted chat."""
    from playwright.async_api import expect

    await page.get_by_label("Sign in as").select_option(user_id)
    await page.get_by_role("button", name="Switch").click()
    await expect(page.locator("#status")).to_have_text(f"Signed in as {name}", timeout=TIMEOUT_MS)
    await page.locator("#log").get_by_text("Ask me about the social media policies").wait_for()


async def accessibility_problems(page) -> list[str]:
    """A few axe-like checks on the page as it stands: every table has a non-empty caption, every header
    cell a ``scope`` of col or row, every scrollable table region is focusable and named, and headings
    never skip a level (h1 then h2 then h3) among those not hidden."""
    return await page.evaluate(
        """() => {
          const problems = [];
          document.querySelectorAll("table").forEach((t, i) => {
            if (!t.caption || !t.caption.textContent.trim()) problems.push(`table ${i} has no caption`);
            t.querySelectorAll("th").forEach((th) => {
              if (!["col", "row"].includes(th.getAttribute("scope")))
                problems.push(`table ${i}: header cell "${th.textContent}" has no scope`);
            });
            const region = t.closest(".table-scroll");
            if (!region || region.tabIndex !== 0 || !region.getAttribute("aria-label"))
              problems.push(`table ${i} is not in a focusable, named scroll region`);
          });
          let level = 0;
          document.querySelectorAll("h1, h2, h3, h4, h5, h6").forEach((h) => {
            if (h.closest("[hidden]")) return;
            const n = Number(h.tagName[1]);
            if (n > level + 1) problems.push(`heading "${h.textContent}" (h${n}) follows h${level}`);
            level = n;
          });
          return problems;
        }"""
    )


async def table_rows(table) -> list[dict]:
    """Each body row of a comparison table: the row header, the stance cell, the quote cell's text, the
    blockquote's text (None without one) and the citation."""
    return await table.locator("tbody tr").evaluate_all(
        """rows => rows.map(r => ({
          header: r.querySelector("th[scope=row]") && r.querySelector("th[scope=row]").textContent,
          cells: r.children.length,
          stance: r.children[1].textContent,
          says: r.children[2].textContent,
          quote: r.querySelector("blockquote") && r.querySelector("blockquote").textContent,
          source: r.querySelector("figcaption") && r.querySelector("figcaption").textContent,
        }))"""
    )


async def test_answer_sections_and_a_comparison_table(fake_bot, wfcs_engine):
    from bot.answer import OTHERS_HEADING, OWN_HEADING
    from bot.compare import compare
    from knowledge.stance import SAYS_NOTHING

    chromium_executable()
    async with WebChatServer(fake_bot, wfcs_engine) as srv, open_page(srv.url) as (page, errors):
        log = page.locator("#log")
        await log.get_by_text("Ask me about the social media policies").wait_for()
        await sign_in_as(page, "olu", "Olu Okafor")

        # an answer: the asker's own organisation's quotes under their heading, then the others'
        await ask(page, FB_QUESTION)
        answer = log.locator(".msg.kind-answer").last
        await answer.locator("figure.quote").first.wait_for()
        headings = answer.locator("h3")
        assert await headings.all_text_contents() == [f"{OWN_HEADING} ({WFCS})", OTHERS_HEADING]
        # in the message: each heading, then the citations of the quotes under it
        parts = await answer.evaluate(
            "m => Array.from(m.querySelectorAll('h3, figure.quote')).map(n => n.tagName === 'H3' ? "
            "'heading' : n.querySelector('figcaption cite').textContent)"
        )
        assert parts[0] == "heading" and parts.count("heading") == 2
        second = parts.index("heading", 1)
        own, others = parts[1:second], parts[second + 1 :]
        assert own and all(c.startswith(WFCS) for c in own)
        assert others and not any(c.startswith(WFCS) for c in others)

        # "Compare policies" is an ordinary choice: pressing it sends its action and the question
        await answer.get_by_role("button", name="Compare policies").click()
        table = log.locator(".msg.kind-comparison table").last
        await table.wait_for()
        expected = compare(fake_bot.index, FB_QUESTION, own=(WFCS,))
        assert FB_QUESTION in await table.locator("caption").text_content()
        assert await table.locator("thead th[scope=col]").all_text_contents() == COLUMNS
        rows = await table_rows(table)
        assert len(rows) == len(expected.positions) == 5
        for row, p in zip(rows, expected.positions):
            assert row["header"] == p.organisation + (" (your organisation)" if p.own else "")
            assert row["cells"] == 3 and p.stance in row["stance"]  # the stance as words
            if p.quote is None:
                assert p.stance == SAYS_NOTHING and row["says"].strip() == NOTHING and row["quote"] is None
            else:
                assert row["quote"] == p.quote.text  # verbatim
                assert row["source"] == "Source: " + p.quote.citation.label()
        assert rows[0]["header"] == WFCS + " (your organisation)"
        # the summary line above the table
        comparison = log.locator(".msg.kind-comparison").last
        summary = comparison.locator("p.msg-text").first
        assert await summary.text_content() == expected.summary
        assert await comparison.evaluate(
            "m => !!(m.querySelector('p.msg-text').compareDocumentPosition(m.querySelector('table')) & 4)"
        )

        # "compare TOPIC" typed in the box
        await ask(page, f"compare {COMPARE_TOPIC}")
        await log.locator("table caption", has_text=COMPARE_TOPIC).wait_for()
        typed = log.locator(".msg.kind-comparison table").last
        assert await typed.locator("thead th[scope=col]").all_text_contents() == COLUMNS
        rows = await table_rows(typed)
        assert len(rows) == 5 and all(r["header"] and r["stance"].strip() for r in rows)
        assert all(r["says"].strip() == NOTHING for r in rows if r["quote"] is None)
        assert {r["header"].removesuffix(" (your organisation)") for r in rows} == {
            p.organisation for p in expected.positions
        }
        assert await accessibility_problems(page) == []

        # a narrow screen: the table scrolls inside its region, the page itself does not
        await page.set_viewport_size({"width": 360, "height": 740})
        region = log.locator(".table-scroll").last
        assert await region.evaluate("r => getComputedStyle(r).overflowX") == "auto"
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert errors == []


@pytest.mark.model
async def test_compare_typed_in_the_box_shows_a_table_of_quotes(real_bot):
    from bot.compare import compare

    chromium_executable()
    engine = ConversationEngine(real_bot, reporting=False)
    async with WebChatServer(real_bot, engine) as srv, open_page(srv.url) as (page, errors):
        log = page.locator("#log")
        await log.get_by_text("Ask me about the social media policies").wait_for()
        await ask(page, f"compare {COMPARE_TOPIC}")
        table = log.locator("table").last
        await table.wait_for()
        expected = compare(real_bot.index, COMPARE_TOPIC)
        assert COMPARE_TOPIC in await table.locator("caption").text_content()
        assert await table.locator("thead th[scope=col]").all_text_contents() == COLUMNS
        rows = await table_rows(table)
        assert [r["header"] for r in rows] == [p.organisation for p in expected.positions]
        assert len(rows) == 5 and sum(r["quote"] is not None for r in rows) >= 2
        for row, p in zip(rows, expected.positions):
            assert p.stance in row["stance"]
            assert row["quote"] == (p.quote.text if p.quote else None)
            if p.quote is None:
                assert row["says"].strip() == NOTHING
        assert await accessibility_problems(page) == []
        assert errors == []


def test_without_chromium_the_browser_tests_skip_but_fail_on_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(sys.modules[__name__], "DEBIAN_CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no chromium executable"):
        chromium_executable()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="cannot run on CI: no chromium executable"):
        chromium_executable()
