"""The admin console's JSON API (``adapters/admin.py``) on ``policybot serve``: sign-in and roles, documents
(upload a real .docx and .pdf, preview, publish, replace, diff, remove), unanswered questions, cases, and the
request checks (CSRF, same origin, sizes, types).

Each test runs the real aiohttp server in-process on 127.0.0.1 (loopback demo mode: "Sign in as") and talks
to it with a real aiohttp client, as the page does.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from kb_helpers import NORTHBROOK_MD, make_docx, make_pdf
from test_report_support import FLOW, SAMPLE_DIRECTORY, make_engine
from webchat_support import WebChatServer

from adapters.admin import ADMIN_KEY, NO_REPORTING, NOT_FOR_YOU
from bot.directory import Directory
from bot.engine import ConversationEngine
from bot.upkeep.admin import PENDING_TTL_SECONDS

CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"
PHOTO_MD = """# Riverside Care Trust: Photography and Video Policy

## 1. Photographs of residents

Staff must not photograph or film residents for any social media account without the written consent of the resident or their representative.

Photographs taken for care records must be stored on the trust's secure system and deleted from the camera or phone the same day.

## 2. Staff accounts

Staff should not name the care home they work at on a personal social media profile.
"""
ANSWERABLE = (
    "Work email must not be set up on a personal phone unless the device is enrolled in the council's "
    "mobile device management service."
)


async def sign_in(srv: WebChatServer, user: str):
    """A client signed in as ``user`` (loopback "Sign in as") and its CSRF token (None when /me refuses)."""
    c = srv.client()
    await c.sign_in_as(user)
    me = await c.get("/admin/api/me")
    return c, (me.json().get("csrf") if me.status == 200 else None)


async def upload(c, csrf, name: str, data: bytes, replace: str | None = None, headers: dict | None = None):
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    if replace is not None:
        form.add_field("replace", replace)
    hdrs = {"X-CSRF-Token": csrf} if csrf else {}
    return await c.request("POST", "/admin/api/documents", data=form, headers={**hdrs, **(headers or {})})


async def publish(c, csrf, body: dict, headers: dict | None = None):
    return await c.post("/admin/api/documents/publish", body, headers={"X-CSRF-Token": csrf, **(headers or {})})


async def doc_ids(c) -> list[str]:
    r = await c.get("/admin/api/documents")
    assert r.status == 200, r.text
    return [d["doc_id"] for d in r.json()["documents"]]


def quoted_docs(messages: list[dict]) -> set[str]:
    return {q["clause_id"].split(":")[0] for m in messages for q in m.get("quotes", [])}


# ---- who may use it -------------------------------------------------------------------------------
async def test_no_session_is_401_and_the_demo_offers_sign_in(fake_bot):
    async with WebChatServer(fake_bot, make_engine(fake_bot)) as srv:
        c = srv.client()
        r = await c.get("/admin/api/documents")
        assert r.status == 401 and r.json()["login"] == "loopback"
        assert r.headers["Cache-Control"] == "no-store" and r.headers["Content-Type"].startswith("application/json")
        me = await c.get("/admin/api/me")
        assert me.status == 401 and me.json()["login"] == "loopback" and me.json()["can_switch"] is True
        assert {"id": "hana", "name": "Hana Hughes"} in me.json()["people"]
        assert "csrf" not in me.json()
        # the demo cookie set with that answer lets the page "Sign in as" through the web chat
        r = await c.post("/chat/api/identity", {"user_id": "hana"})
        assert r.status == 200
        me = await c.get("/admin/api/me")
        assert me.status == 200 and me.json()["role"] == "hr"


async def test_alice_and_anonymous_are_refused(fake_bot):
    async with WebChatServer(fake_bot, make_engine(fake_bot)) as srv:
        alice, _ = await sign_in(srv, "alice")
        me = await alice.get("/admin/api/me")
        assert me.status == 403 and me.json()["error"] == NOT_FOR_YOU
        assert me.json()["can_switch"] is True and me.json()["people"]
        for path in ("/admin/api/documents", "/admin/api/cases", "/admin/api/gaps"):
            r = await alice.get(path)
            assert r.status == 403 and r.json()["error"] == NOT_FOR_YOU, path
        anon = srv.client()
        assert (await anon.get("/chat/api/me")).json()["anonymous"]
        for path in ("/admin/api/me", "/admin/api/documents", "/admin/api/cases"):
            r = await anon.get(path)
            assert r.status == 403 and r.json()["error"] == NOT_FOR_YOU, path


async def test_the_web_chat_links_to_the_console_for_those_who_may_use_it(fake_bot):
    async with WebChatServer(fake_bot, make_engine(fake_bot)) as srv:
        links = {}
        for user in ("hana", "bob", "alice"):
            c, _ = await sign_in(srv, user)
            links[user] = (await c.get("/chat/api/me")).json()["admin_console"]
        anon = (await srv.client().get("/chat/api/me")).json()
        assert links == {"hana": "/admin/", "bob": "/admin/", "alice": None} and anon["admin_console"] is None


async def test_hr_sees_the_five_bundled_documents(fake_bot):
    async with WebChatServer(fake_bot, make_engine(fake_bot)) as srv:
        hana, csrf = await sign_in(srv, "hana")
        me = (await hana.get("/admin/api/me")).json()
        assert me["user_id"] == "hana" and me["name"] == "Hana Hughes" and me["role"] == "hr"
        assert me["reporting"] is True and me["can_switch"] is True and me["people"]
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", csrf)
        r = await hana.get("/admin/api/documents")
        assert r.status == 200
        assert r.headers["Cache-Control"] == "no-store" and r.headers["X-Content-Type-Options"] == "nosniff"
        docs = r.json()["documents"]
        assert sorted(d["doc_id"] for d in docs) == ["cwm-taf", "forest-federation", "medway", "wbc", "wfcs"]
        for d in docs:
            assert set(d) == {
                "doc_id",
                "organisation",
                "title",
                "edition",
                "version_no",
                "clauses",
                "updated_at",
                "file",
            }
            assert d["clauses"] > 0 and d["version_no"] == 1 and datetime.fromisoformat(d["updated_at"])
        assert "admin" not in srv.channel_names and "webchat" in srv.channel_names  # not a chat channel


async def test_a_handler_gets_cases_but_not_documents_or_gaps(fake_bot):
    async with WebChatServer(fake_bot, make_engine(fake_bot)) as srv:
        bob, csrf = await sign_in(srv, "bob")
        assert (await bob.get("/admin/api/me")).json()["role"] == "handler"
        for path in ("/admin/api/documents", "/admin/api/gaps", "/admin/api/gaps/closest?q=parking"):
            r = await bob.get(path)
            assert r.status == 403 and r.json()["error"].startswith("Only HR can"), path
        r = await upload(bob, csrf, "x.txt", b"Staff must not post photographs of residents.")
        assert r.status == 403 and r.json()["error"].startswith("Only HR can")
        assert (await bob.get("/admin/api/cases")).status == 200


# ---- documents ------------------------------------------------------------------------------------
async def test_upload_docx_and_pdf_preview_publish_and_answer(fake_bot):
    async with WebChatServer(fake_bot, make_engine(fake_bot)) as srv:
        hana, csrf = await sign_in(srv, "hana")
        r = await upload(hana, csrf, "northbrook.docx", make_docx(NORTHBROOK_MD.read_text(encoding="utf-8")))
        assert r.status == 200, r.text
        p = r.json()
        assert p["action"] == "add" and p["kind"] == ".docx" and p["file"] == "northbrook.docx"
        assert p["preview_token"] == p["token"] and p["citation"].startswith("Citations will read: ")
        assert len(p["clauses"]) >= 5 and any(c["text"] == ANSWERABLE for c in p["clauses"])
        assert p["doc_id"] not in await doc_ids(hana)  # nothing written by a preview
        r = await publish(hana, csrf, {"preview_token": p["preview_token"], "title": "Staff Social Media Rules"})
        assert r.status == 200, r.text
        done = r.json()
        assert done["action"] == "added" and done["version_no"] == 1 and done["clauses"] == len(p["clauses"])
        docs = {d["doc_id"]: d for d in (await hana.get("/admin/api/documents")).json()["documents"]}
        assert docs[done["doc_id"]]["title"] == "Staff Social Media Rules"
        assert docs[done["doc_id"]]["file"] == "northbrook.docx" and len(docs) == 6
        # the same token cannot publish twice
        assert (await publish(hana, csrf, {"preview_token": p["preview_token"]})).status == 410
        # a question is answered from it (the index was refreshed by the publish)
        alice = srv.client()
        await alice.sign_in_as("alice")
        assert done["doc_id"] in quoted_docs(await alice.say(ANSWERABLE))

        r = await upload(hana, csrf, "riverside-photos.pdf", make_pdf(PHOTO_MD))
        assert r.status == 200, r.text
        pdf = r.json()
        assert pdf["kind"] == ".pdf" and pdf["clauses"]
        r = await publish(hana, csrf, {"preview_token": pdf["preview_token"]})
        assert r.status == 200 and r.json()["action"] == "added", r.text
        assert pdf["doc_id"] in await doc_ids(hana)
        photo = next(c["text"] for c in pdf["clauses"] if c["text"].startswith("Photographs taken"))
        assert pdf["doc_id"] in quoted_docs(await alice.say(photo))


async def test_replace_then_diff_with_words_then_remove(fake_bot):
    async with WebChatServer(fake_bot, make_engine(fake_bot)) as srv:
        hana, csrf = await sign_in(srv, "hana")
        md = NORTHBROOK_MD.read_text(encoding="utf-8")
        first = (await upload(hana, csrf, "northbrook.md", md.encode())).json()
        doc = (await publish(hana, csrf, {"preview_token": first["preview_token"]})).json()["doc_id"]
        r = await hana.get(f"/admin/api/documents/{doc}/diff")
        assert r.status == 400 and "error" in r.json()  # a single version
        changed = md.replace("Work email must not be set up", "Work email and Teams must never be set up")
        assert changed != md
        r = await upload(hana, csrf, "northbrook-v2.md", changed.encode(), replace=doc)
        assert r.status == 200, r.text
        second = r.json()
        assert second["action"] == "replace" and second["doc_id"] == doc and second["version_no"] == 2
        assert len(second["diff"]["changed"]) == 1
        r = await publish(hana, csrf, {"preview_token": second["preview_token"]})
        assert r.status == 200 and r.json()["action"] == "replaced" and r.json()["version_no"] == 2
        r = await hana.get(f"/admin/api/documents/{doc}/diff")
        assert r.status == 200, r.text
        d = r.json()
        assert d["from_version"] == 1 and d["to_version"] == 2 and d["added"] == [] and d["removed"] == []
        assert [v["version_no"] for v in d["versions"]] == [1, 2]
        assert all({"edition", "added_at"} <= set(v) for v in d["versions"])
        (item,) = d["changed"]
        assert item["old"]["text"] == ANSWERABLE and item["new"]["text"].startswith("Work email and Teams")
        ops = item["words"]
        assert {"op": "insert", "text": " and Teams"} in ops and {"op": "delete", "text": " not"} in ops
        assert {"op": "insert", "text": " never"} in ops and ops[0] == {"op": "equal", "text": "Work email"}
        assert "".join(o["text"] for o in ops if o["op"] != "delete") == item["new"]["text"]
        assert (await hana.get(f"/admin/api/documents/{doc}/diff?from=2&to=1")).status == 200
        for bad in ("?from=7", "?from=abc", "?to=0", "?from=-1"):
            r = await hana.get(f"/admin/api/documents/{doc}/diff{bad}")
            assert r.status == 400 and "error" in r.json(), bad
        assert (await hana.get("/admin/api/documents/no-such-doc/diff")).status == 404

        r = await hana.request("DELETE", f"/admin/api/documents/{doc}", headers={"X-CSRF-Token": csrf})
        assert r.status == 200 and r.json()["action"] == "removed" and r.json()["doc_id"] == doc
        assert doc not in await doc_ids(hana)
        r = await hana.request("DELETE", f"/admin/api/documents/{doc}", headers={"X-CSRF-Token": csrf})
        assert r.status == 404 and "error" in r.json()
        r = await upload(hana, csrf, "x.md", changed.encode(), replace=doc)  # replacing a removed document
        assert r.status == 404 and r.json()["code"] == "not_found"


async def test_bad_uploads_are_refused_and_nothing_is_lost(fake_bot):
    async with WebChatServer(fake_bot, make_engine(fake_bot)) as srv:
        hana, csrf = await sign_in(srv, "hana")
        held = (await upload(hana, csrf, "riverside.md", PHOTO_MD.encode())).json()
        before = await doc_ids(hana)
        r = await upload(hana, csrf, "setup.exe", b"MZ\x90\x00" * 100)
        assert r.status == 400 and r.json()["code"] == "unsupported_type"
        r = await upload(hana, csrf, "empty.docx", b"")
        assert r.status == 400 and r.json()["code"] == "empty"
        r = await upload(hana, csrf, "broken.pdf", b"%PDF-1.4 this is not really a pdf")
        assert r.status == 400 and r.json()["code"] == "corrupt"
        r = await upload(hana, csrf, "copy.md", (fake_bot.store.version_text("wbc", 1) or "").encode())
        assert r.status == 400 and r.json()["code"] == "duplicate"
        srv.ctx.engine.kb.admin.max_bytes = 4000
        r = await upload(hana, csrf, "big.txt", b"Staff must not do this. " * 200)  # 4800 bytes, streamed
        assert r.status == 413 and "error" in r.json()
        r = await upload(hana, csrf, "huge.txt", b"Staff must not do that. " * 5000)  # Content-Length alone
        assert r.status == 413
        srv.ctx.engine.kb.admin.max_bytes = 10 * 1024 * 1024
        r = await hana.post("/admin/api/documents", {"file": "x"}, headers={"X-CSRF-Token": csrf})
        assert r.status == 415 and "error" in r.json()
        form = aiohttp.FormData(default_to_multipart=True)
        form.add_field("replace", "wbc")
        form.add_field("other", "x")
        r = await hana.request("POST", "/admin/api/documents", data=form, headers={"X-CSRF-Token": csrf})
        assert r.status == 400 and r.json()["code"] == "no_file"
        r = await hana.request(
            "POST",
            "/admin/api/documents",
            data=b"--xyz\r\nnot a form",
            headers={"X-CSRF-Token": csrf, "Content-Type": "multipart/form-data; boundary=xyz"},
        )
        assert 400 <= r.status < 500 and "error" in r.json()
        assert await doc_ids(hana) == before
        # the preview held before all that is still there to publish
        r = await publish(hana, csrf, {"preview_token": held["preview_token"]})
        assert r.status == 200 and r.json()["doc_id"] == held["doc_id"]


async def test_publish_refusals(fake_bot):
    async with WebChatServer(fake_bot, make_engine(fake_bot)) as srv:
        hana, csrf = await sign_in(srv, "hana")
        p = (await upload(hana, csrf, "riverside.md", PHOTO_MD.encode())).json()
        before = await doc_ids(hana)
        for body, field in (
            ({"title": ""}, "title"),
            ({"title": "Two\nlines"}, "title"),
            ({"organisation": "x" * 500}, "organisation"),
            ({"version": 3}, "version"),
            ({"date": ["today"]}, "date"),
        ):
            r = await publish(hana, csrf, {"preview_token": p["preview_token"], **body})
            assert r.status == 400 and field in r.json()["fields"] and r.json()["error"], body
        assert await doc_ids(hana) == before
        for body in ({}, {"preview_token": 5}, {"preview_token": ""}):
            r = await publish(hana, csrf, body)
            assert r.status == 400 and "error" in r.json(), body
        r = await hana.post("/admin/api/documents/publish", "[1]", headers={"X-CSRF-Token": csrf})
        assert r.status == 400
        r = await hana.request(
            "POST",
            "/admin/api/documents/publish",
            data=b"preview_token=x",
            headers={"X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert r.status == 415
        assert (await publish(hana, csrf, {"preview_token": "never-issued"})).status == 410
        # the preview expires
        srv.ctx.engine.kb.admin._pending[p["preview_token"]].created = time.monotonic() - PENDING_TTL_SECONDS - 1
        r = await publish(hana, csrf, {"preview_token": p["preview_token"], "title": "Photography"})
        assert r.status == 410 and "expired" in r.json()["error"]
        assert await doc_ids(hana) == before


async def test_state_changes_need_the_csrf_token_and_the_same_origin(fake_bot):
    async with WebChatServer(fake_bot, make_engine(fake_bot)) as srv:
        hana, csrf = await sign_in(srv, "hana")
        _, other_csrf = await sign_in(srv, "bob")
        assert other_csrf != csrf  # bound to the session cookie
        p = (await upload(hana, csrf, "riverside.md", PHOTO_MD.encode())).json()
        for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": other_csrf}, {"X-CSRF-Token": csrf + "x"}):
            r = await hana.post("/admin/api/documents/publish", {"preview_token": p["preview_token"]}, headers=headers)
            assert r.status == 403 and "error" in r.json(), headers
            r = await hana.request("DELETE", "/admin/api/documents/wbc", headers=headers)
            assert r.status == 403, headers
            assert (await upload(hana, None, "a.md", PHOTO_MD.encode(), headers=headers)).status == 403
        port = srv.url.rsplit(":", 1)[1]
        for cross in (
            {"Origin": "https://evil.example"},
            {"Origin": "http://localhost:1"},  # a loopback page on another port: another origin
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},
        ):
            r = await publish(hana, csrf, {"preview_token": p["preview_token"]}, headers=cross)
            assert r.status == 403 and "error" in r.json(), cross
            r = await hana.request("DELETE", "/admin/api/documents/wbc", headers={"X-CSRF-Token": csrf, **cross})
            assert r.status == 403, cross
        assert "wbc" in await doc_ids(hana) and p["doc_id"] not in await doc_ids(hana)
        same = {"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"}
        r = await publish(hana, csrf, {"preview_token": p["preview_token"]}, headers=same)
        assert r.status == 200, r.text


# ---- unanswered questions -------------------------------------------------------------------------
async def test_gaps_with_weeks_and_the_closest_clause(fake_bot):
    async with WebChatServer(fake_bot, make_engine(fake_bot)) as srv:
        alice = srv.client()
        await alice.sign_in_as("alice")
        question = "How much is the car parking allowance for night shifts?"
        for _ in range(2):
            (msg,) = [m for m in await alice.say(question) if m["kind"] == "no_answer"]
        hana, _ = await sign_in(srv, "hana")
        r = await hana.get("/admin/api/gaps")
        assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
        body = r.json()
        (group,) = [g for g in body["groups"] if g["question"] == question]
        assert group["count"] == 2 and group["abstained"] == 2
        weeks = body["weeks"]
        assert len(weeks) == 12 and all(set(w) == {"week", "abstained", "not_helpful"} for w in weeks)
        monday = datetime.now(UTC).date() - timedelta(days=datetime.now(UTC).weekday())
        assert weeks[-1]["week"] == monday.isoformat() and weeks[-1]["abstained"] >= 2
        assert [w["week"] for w in weeks] == sorted(w["week"] for w in weeks)
        assert sum(w["abstained"] for w in weeks[:-1]) == 0
        assert (await hana.get("/admin/api/gaps?days=7")).status == 200
        for bad in ("abc", "0", "-3", "nan", "99999"):
            r = await hana.get(f"/admin/api/gaps?days={bad}")
            assert r.status == 400 and "error" in r.json(), bad

        r = await hana.get("/admin/api/gaps/closest", params={"q": question})
        assert r.status == 200, r.text
        closest = r.json()["closest"]
        assert r.json()["question"] == question
        assert set(closest) == {"doc_id", "organisation", "title", "section", "clause_id", "text", "score"}
        assert closest["clause_id"].startswith(closest["doc_id"] + ":")
        for bad in ({}, {"q": "   "}, {"q": "x" * 3000}):
            r = await hana.get("/admin/api/gaps/closest", params=bad)
            assert r.status == 400 and "error" in r.json(), bad

        # dismissed once handled: HR only, with the token, a list of group keys
        bob, bob_csrf = await sign_in(srv, "bob")
        r = await bob.post("/admin/api/gaps/dismiss", {"keys": [group["key"]]}, headers={"X-CSRF-Token": bob_csrf})
        assert r.status == 403
        hana_csrf = (await hana.get("/admin/api/me")).json()["csrf"]
        assert (await hana.post("/admin/api/gaps/dismiss", {"keys": [group["key"]]})).status == 403  # no token
        for bad in ({}, {"keys": []}, {"keys": "x"}, {"keys": [1]}, {"keys": ["k"] * 500}):
            r = await hana.post("/admin/api/gaps/dismiss", bad, headers={"X-CSRF-Token": hana_csrf})
            assert r.status == 400 and "error" in r.json(), bad
        assert [g["key"] for g in (await hana.get("/admin/api/gaps")).json()["groups"]] == [group["key"]]
        r = await hana.post("/admin/api/gaps/dismiss", {"keys": [group["key"]]}, headers={"X-CSRF-Token": hana_csrf})
        assert r.status == 200 and r.json() == {"dismissed": 2}
        assert (await hana.get("/admin/api/gaps")).json()["groups"] == []


# ---- cases ----------------------------------------------------------------------------------------
class CaseWatcherChannel:
    """A channel showing cases outside conversations (as Slack's App Home does): counts ``cases_changed``."""

    name = "watcher"

    def __init__(self) -> None:
        self.changed = asyncio.Event()

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def deliver(self, user_id, outbound) -> bool:
        return False

    async def cases_changed(self, refs: frozenset[str]) -> None:
        self.refs = refs
        self.changed.set()


async def test_cases_for_the_handler_hr_and_nobody_else(fake_bot):
    async with WebChatServer(fake_bot, make_engine(fake_bot)) as srv:
        watcher = CaseWatcherChannel()
        srv.ctx.channels.append(watcher)
        alice = srv.client()
        await alice.sign_in_as("alice")
        for answer in FLOW:
            await alice.say(answer)
        await alice.get("/chat/api/inbox")
        bob, bob_csrf = await sign_in(srv, "bob")
        r = await bob.get("/admin/api/cases")
        assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
        body = r.json()
        (case,) = body["cases"]
        ref = case["ref"]
        assert case["handler_id"] == "bob" and case["state"] == "new" and case["overdue"] is False
        assert body["counts"] == {"open": 1, "overdue": 0, "escalated": 0, "closed": 0}
        chart = body["chart"]
        assert len(chart["weeks"]) == 12 and chart["weeks"][-1] == "2025-03-10"  # the reporting clock's week
        (series,) = chart["series"]
        assert series["state"] == "open" and series["counts"][-1] == 1 and sum(series["counts"]) == 1
        assert series["label"] == f"{case['category']} — open"

        sam, sam_csrf = await sign_in(srv, "sam")
        assert (await sam.get("/admin/api/me")).json()["role"] == "handler"
        assert (await sam.get("/admin/api/cases")).json()["cases"] == []
        hidden = await sam.get(f"/admin/api/cases/{ref}")
        unknown = await sam.get("/admin/api/cases/C-99999")
        assert hidden.status == unknown.status == 404 and hidden.json() == unknown.json()
        assert (await sam.get("/admin/api/cases/not-a-ref")).status == 404
        r = await sam.post(f"/admin/api/cases/{ref}/acknowledge", {}, headers={"X-CSRF-Token": sam_csrf})
        assert r.status == 404

        view = (await bob.get(f"/admin/api/cases/{ref}")).json()
        assert view["ref"] == ref and view["state"] == "new" and "audit" not in view
        assert view["actions"] == ["acknowledge", "ask", "close"]
        assert datetime.fromisoformat(view["ack_due_iso"]) and view["events"][0]["kind"] == "submitted"
        assert set(view["events"][0]) == {"at", "kind", "actor", "text"}
        assert "confidential" in view["reporter"] and "Alice" not in view["reporter"]

        await asyncio.wait_for(watcher.changed.wait(), 10)  # alice's report (through the web chat)
        watcher.changed.clear()
        r = await bob.post(f"/admin/api/cases/{ref}/acknowledge", {}, headers={"X-CSRF-Token": bob_csrf})
        assert r.status == 200, r.text
        await asyncio.wait_for(watcher.changed.wait(), 10)  # e.g. bob's App Home shows the new status
        assert watcher.refs == {ref}
        assert r.json()["ok"] is True and "acknowledged" in r.json()["message"]
        assert r.json()["case"]["state"] == "acknowledged"
        assert r.json()["case"]["actions"] == ["ask", "close"]  # acknowledged: no second acknowledgement
        inbox = (await alice.get("/chat/api/inbox")).json()["messages"]
        assert any("Bob Baker has acknowledged it" in m["text"] for m in inbox)
        r = await bob.post(f"/admin/api/cases/{ref}/acknowledge", {}, headers={"X-CSRF-Token": bob_csrf})
        assert r.status == 400 and "already" in r.json()["error"]
        r = await bob.post(f"/admin/api/cases/{ref}/ask", {"question": "  "}, headers={"X-CSRF-Token": bob_csrf})
        assert r.status == 400 and "error" in r.json()
        r = await bob.post(f"/admin/api/cases/{ref}/ask", {"text": "x"}, headers={"X-CSRF-Token": bob_csrf})
        assert r.status == 400
        r = await bob.post(f"/admin/api/cases/{ref}/acknowledge", {}, headers={"X-CSRF-Token": "nope"})
        assert r.status == 403
        r = await bob.post(
            f"/admin/api/cases/{ref}/ask", {"question": "Which account sent it?"}, headers={"X-CSRF-Token": bob_csrf}
        )
        assert r.status == 200 and r.json()["case"]["state"] == "info_requested"
        inbox = (await alice.get("/chat/api/inbox")).json()["messages"]
        assert any("Which account sent it?" in m["text"] for m in inbox)

        hana, hana_csrf = await sign_in(srv, "hana")
        assert [c["ref"] for c in (await hana.get("/admin/api/cases")).json()["cases"]] == [ref]
        view = (await hana.get(f"/admin/api/cases/{ref}")).json()
        assert "Alice Adams" in view["reporter"]  # HR sees who reported
        audit = view["audit"]
        assert all(set(a) == {"at", "actor", "action", "allowed", "via"} for a in audit)
        assert {"actor": "bob", "action": "acknowledge", "allowed": True, "via": "admin"} in [
            {k: a[k] for k in ("actor", "action", "allowed", "via")} for a in audit
        ]
        assert any(a["actor"] == "sam" and a["allowed"] is False and a["via"] == "admin" for a in audit)
        r = await hana.post(
            f"/admin/api/cases/{ref}/close", {"outcome": "Account blocked."}, headers={"X-CSRF-Token": hana_csrf}
        )
        assert r.status == 200 and r.json()["case"]["state"] == "closed"
        assert any("Account blocked." in m["text"] for m in (await alice.get("/chat/api/inbox")).json()["messages"])
        counts = (await hana.get("/admin/api/cases")).json()["counts"]
        assert counts == {"open": 0, "overdue": 0, "escalated": 0, "closed": 1}
        r = await hana.post(f"/admin/api/cases/{ref}/close", {"outcome": "Again."}, headers={"X-CSRF-Token": hana_csrf})
        assert r.status == 400


async def test_without_reporting_hr_keeps_documents_and_cases_answer_503(fake_bot):
    engine = ConversationEngine(fake_bot, reporting=False, directory=Directory.load(SAMPLE_DIRECTORY))
    async with WebChatServer(fake_bot, engine) as srv:
        hana, _ = await sign_in(srv, "hana")
        me = (await hana.get("/admin/api/me")).json()
        assert me["role"] == "hr" and me["reporting"] is False
        assert (await hana.get("/admin/api/documents")).status == 200
        r = await hana.get("/admin/api/cases")
        assert r.status == 503 and r.json() == {"error": NO_REPORTING}
        bob, _ = await sign_in(srv, "bob")  # a handler only through reporting
        assert (await bob.get("/admin/api/me")).status == 403


# ---- the page, errors, wiring ---------------------------------------------------------------------
async def test_page_files_headers_and_missing_files(fake_bot, tmp_path):
    async with WebChatServer(fake_bot, make_engine(fake_bot)) as srv:
        srv.app[ADMIN_KEY].static_dir = tmp_path
        (tmp_path / "index.html").write_text("<!doctype html><title>Admin</title>", encoding="utf-8")
        (tmp_path / "admin.js").write_text("console.log(1);", encoding="utf-8")
        (tmp_path / "secret.txt").write_text("no", encoding="utf-8")
        c = srv.client()
        page = await c.get("/admin/")
        assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
        assert page.headers["Content-Security-Policy"] == CSP
        assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["Referrer-Policy"] == "no-referrer"
        js = await c.get("/admin/static/admin.js")
        assert js.status == 200 and js.headers["Content-Type"].startswith("text/javascript")
        assert js.headers["X-Content-Type-Options"] == "nosniff"
        for missing in ("/admin/static/admin.css", "/admin/static/secret.txt", "/admin/static/index.html"):
            assert (await c.get(missing)).status == 404, missing
        assert (await c.get("/admin/static/../admin.py")).status == 404
        r = await c.get("/admin", allow_redirects=False)
        assert r.status in (301, 308) and r.headers["Location"] == "/admin/"
        assert (await c.get("/admin/", headers={"X-Forwarded-For": "203.0.113.9"})).status == 403


async def test_unknown_routes_and_methods_answer_json(fake_bot):
    async with WebChatServer(fake_bot, make_engine(fake_bot)) as srv:
        hana, csrf = await sign_in(srv, "hana")
        r = await hana.get("/admin/api/nothing-here")
        assert r.status == 404 and "error" in r.json() and r.headers["Cache-Control"] == "no-store"
        r = await hana.request("PUT", "/admin/api/documents", headers={"X-CSRF-Token": csrf})
        assert r.status == 405 and "error" in r.json()
        r = await hana.post("/admin/api/cases/C-00001/reopen", {}, headers={"X-CSRF-Token": csrf})
        assert r.status in (404, 405) and "error" in r.json()


async def test_an_unexpected_error_is_a_500_without_details_and_logged(fake_bot, caplog, monkeypatch):
    async with WebChatServer(fake_bot, make_engine(fake_bot)) as srv:
        hana, _ = await sign_in(srv, "hana")

        def broken(*a, **kw):
            raise RuntimeError("internal detail 1234")

        monkeypatch.setattr(srv.ctx.engine.kb.admin, "documents", broken)
        with caplog.at_level(logging.ERROR, logger="policybot.admin"):
            r = await hana.get("/admin/api/documents")
        assert r.status == 500 and r.json() == {"error": "Something went wrong on the server."}
        assert "1234" not in r.text and r.headers["Cache-Control"] == "no-store"
        (record,) = [rec for rec in caplog.records if rec.name == "policybot.admin"]
        assert record.exc_info is not None and "/admin/api/documents" in record.getMessage()


async def test_the_console_is_off_with_the_web_chat(fake_bot, caplog):
    with caplog.at_level(logging.INFO, logger="policybot.admin"):
        async with WebChatServer(fake_bot, make_engine(fake_bot), env={"POLICYBOT_WEBCHAT": "off"}) as srv:
            assert ADMIN_KEY not in srv.app
            assert (await srv.client().get("/admin/api/me")).status == 404
    assert any("admin console is off" in rec.getMessage() for rec in caplog.records)


@pytest.mark.parametrize("user", ["hana", "bob"])
async def test_case_reads_never_log_report_contents(fake_bot, caplog, user):
    async with WebChatServer(fake_bot, make_engine(fake_bot)) as srv:
        alice = srv.client()
        await alice.sign_in_as("alice")
        for answer in FLOW:
            await alice.say(answer)
        c, csrf = await sign_in(srv, user)
        with caplog.at_level(logging.DEBUG):
            ref = (await c.get("/admin/api/cases")).json()["cases"][0]["ref"]
            assert (await c.get(f"/admin/api/cases/{ref}")).status == 200
            r = await c.post(
                f"/admin/api/cases/{ref}/ask", {"question": "Zebra crossing?"}, headers={"X-CSRF-Token": csrf}
            )
            assert r.status == 200
        logged = "\n".join(rec.getMessage() for rec in caplog.records)
        assert "Facebook" not in logged and "Zebra crossing" not in logged and "alice" not in logged.lower()


async def test_a_refusal_from_the_core_is_a_403(fake_bot, monkeypatch):
    from bot.upkeep.admin import NotAuthorised

    async with WebChatServer(fake_bot, make_engine(fake_bot)) as srv:
        hana, _ = await sign_in(srv, "hana")

        def refuse(*a, **kw):
            raise NotAuthorised("Only HR can change the policies I answer from.")

        monkeypatch.setattr(srv.ctx.engine.kb.admin, "gaps", refuse)
        r = await hana.get("/admin/api/gaps")
        assert r.status == 403 and r.json()["error"].startswith("Only HR") and r.headers["Cache-Control"] == "no-store"


def test_the_image_build_check_names_missing_page_files(monkeypatch, tmp_path):
    import adapters.admin as admin

    admin.check_static()  # the repository's files are all there
    (tmp_path / "index.html").write_text("<!doctype html>")
    monkeypatch.setattr(admin, "STATIC_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="admin.js, admin.css, chart.umd.min.js"):
        admin.check_static()
