"""``policybot kb ...``: HR's upkeep of the knowledge base from the command line.

    policybot kb add FILE [--organisation ORG] [--title T] [--version V] [--date D] [--id ID] [--dry-run]
    policybot kb list [--all]
    policybot kb show DOC [--version N]
    policybot kb replace DOC FILE [--organisation ORG] [--title T] [--version V] [--date D] [--dry-run]
    policybot kb remove DOC
    policybot kb diff DOC [--from N] [--to N]
    policybot kb gaps [--days N] [--limit N] [--clear]

``kb add`` / ``kb replace`` print the title, organisation, version and date citations will show and
where each came from (the document, the file name, the current version, a default, or the flag) before
committing; ``--title`` / ``--organisation`` / ``--version`` / ``--date`` override them (one line of at
most 200 characters each).

Every command takes ``--json``. Exit codes: 0 done, 2 bad input (unsupported, too large, empty,
encrypted or corrupt file, duplicate, unknown document); the knowledge base is then unchanged.
A running server picks changes up through its ``index.watch.KnowledgeWatcher``; no restart.
With ``POLICYBOT_NOTIFY_CHANGED_CLAUSES=1``, a replace or remove queues a private notice for each
person answered from a changed clause in the last 30 days in the reporting outbox (when reporting is
configured), which a running server delivers.
"""

from __future__ import annotations

import json
import sys

from adapters.cli import open_from_args


def _fail(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


def _admin(args):
    return open_from_args(args).kb_admin()


def _meta_kwargs(args) -> dict:
    return {"organisation": args.organisation, "title": args.title, "version": args.version, "date": args.date}


_FLAGS = {"title": "--title", "organisation": "--organisation", "version": "--version", "date": "--date"}


def details_text(preview) -> str:
    """How citations will read, then each detail with where it came from and the flag that overrides it,
    e.g. ``"  organisation: Northbrook District Council (from the document; --organisation to change)"``."""
    from bot.upkeep.admin import DETAIL_FIELDS, SOURCE_WORDS

    d = preview.document
    values = {"title": d.title, "organisation": d.organisation, "version": d.version or "-", "date": d.date or "-"}
    lines = [preview.citation_line()]
    for name in DETAIL_FIELDS:
        src = SOURCE_WORDS.get(preview.sources.get(name, ""), "")
        note = (
            src
            if preview.sources.get(name) == "given"
            else f"{src}; {_FLAGS[name]} to change"
            if src
            else f"{_FLAGS[name]} to change"
        )
        lines.append(f"  {name + ':':<14}{values[name]}  ({note})")
    return "\n".join(lines)


def _preview_and_commit(args, replace: str | None) -> int:
    from bot.upkeep.admin import check_details
    from knowledge.loaders import BadUpload

    errors = check_details(**_meta_kwargs(args))[1]
    if errors:
        return _fail(" ".join(f"{_FLAGS[k]}: {v}" for k, v in errors.items()))
    admin = _admin(args)
    try:
        preview = admin.preview_file(args.file, replace=replace, doc_id=getattr(args, "id", None), **_meta_kwargs(args))
        if args.dry_run:
            if args.json:
                print(json.dumps(preview.to_json() | {"dry_run": True}, ensure_ascii=False, indent=1))
            else:
                print(details_text(preview) + "\n")
                print(preview.to_text())
                print("\n(dry run: nothing was changed)")
            return 0
        if not args.json:
            print(details_text(preview), flush=True)
        for w in preview.warnings:
            print(f"warning: {w}", file=sys.stderr)
        result = _with_progress(lambda tick: admin.commit(preview, added_by=args.added_by, progress=tick))
    except BadUpload as exc:
        return _fail(str(exc))
    queued, note = _queue_notices(admin, result, args.added_by)
    if args.json:
        print(
            json.dumps(
                result.to_json()
                | {
                    "edition": preview.edition,
                    "title": preview.document.title,
                    "organisation": preview.document.organisation,
                    "sources": dict(preview.sources),
                    "notices_queued": queued,
                },
                ensure_ascii=False,
            )
        )
    else:
        print(result.to_text())
        print(f"Citations will read: {preview.document.organisation} — {preview.document.title} ({preview.edition})")
        if note:
            print(note)
    return 0


def _queue_notices(admin, result, by: str | None = None) -> tuple[int, str | None]:
    """Queue the change notices of ``result`` (``bot.upkeep.chat.change_notices``) in the reporting outbox,
    where a running ``policybot serve`` sends them privately (its outbox sweep, every 15 seconds).

    Returns ``(how many were queued, a line for the terminal or None)``. Without reporting configured
    (no report key or directory) nothing is queued and the line names the people to tell instead.
    """
    if not result.notify_users:
        return 0, None
    import sqlite3

    from bot.engine import open_reporting
    from bot.reporting.crypto import ReportingNotConfigured
    from bot.upkeep.chat import change_notices, queue_notices

    notices = change_notices(
        result, admin.store.document(result.doc_id), admin.bot.settings.notify_window_days, exclude=(by,) if by else ()
    )
    if not notices:
        return 0, None
    people = "People to tell: " + ", ".join(n.to_user for n in notices)
    try:
        svc = open_reporting(admin.bot.data_dir, admin.store, settings=getattr(admin.bot, "config", None))
    except ReportingNotConfigured as exc:
        return 0, f"{people} (not queued: {exc})"
    except (sqlite3.Error, OSError) as exc:  # the change itself is committed; say why the notices are not queued
        return 0, f"{people} (not queued: {type(exc).__name__})"
    try:
        queue_notices(notices, svc.outbox)
    except sqlite3.Error as exc:
        return 0, f"{people} (not queued: {type(exc).__name__})"
    finally:
        svc.close()
    return len(notices), (f"{people}. A private notice for each is queued; a running server sends it within seconds.")


def _with_progress(fn):
    """Run ``fn(tick)`` with a transient progress bar on stderr, shown only once embedding starts
    (the first use of a data dir embeds every clause; later changes only the new ones)."""
    from rich.console import Console
    from rich.progress import Progress

    with Progress(transient=True, console=Console(stderr=True)) as progress:
        task = None

        def tick(done: int, total: int) -> None:
            nonlocal task
            if task is None:
                task = progress.add_task("Embedding new clauses", total=total)
            progress.update(task, completed=done, total=total)

        return fn(tick)


def cmd_add(args) -> int:
    """``kb add FILE``: preview (``--dry-run``) or add a new document."""
    return _preview_and_commit(args, replace=None)


def cmd_replace(args) -> int:
    """``kb replace DOC FILE``: a new version of DOC; the old one is kept for audit and no longer cited."""
    return _preview_and_commit(args, replace=args.doc)


def _edition(row: dict) -> str:
    from knowledge.model import Document

    return Document("", "", "", "", row.get("version_label"), row.get("date")).edition or "-"


def cmd_list(args) -> int:
    """``kb list``: one document a line, its id first."""
    docs = open_from_args(args).store.documents(include_removed=args.all)
    if args.json:
        print(json.dumps(docs, ensure_ascii=False))
        return 0
    if not docs:
        print("no documents")
        return 0
    width = max(len(d["doc_id"]) for d in docs)
    for d in docs:
        status = "" if d["status"] == "active" else f"  [{d['status']}]"
        print(
            f"{d['doc_id']:<{width}}  v{d['version_no']:<3} {d['clauses']:>4} clauses  "
            f"{d['organisation']} — {d['title']} ({_edition(d)})  [{d['origin']}]{status}"
        )
    return 0


def cmd_show(args) -> int:
    """``kb show DOC``: metadata, every version, and the clauses of the current (or ``--version``) version."""
    from bot.upkeep.admin import render_clauses

    store = open_from_args(args).store
    doc = store.document(args.doc)
    if doc is None:
        return _fail(f"there is no document {args.doc!r} (see `policybot kb list --all`)")
    versions = store.versions(args.doc)
    vno = args.version or doc["version_no"]
    if vno not in {v["version_no"] for v in versions}:
        return _fail(f"document {args.doc!r} has no version {vno} (versions: {[v['version_no'] for v in versions]})")
    clauses = store.version_clauses(args.doc, vno)
    if args.json:
        print(
            json.dumps(
                {"document": doc, "versions": versions, "version_no": vno, "clauses": clauses}, ensure_ascii=False
            )
        )
        return 0
    print(f"{doc['doc_id']}  ({doc['status']})")
    print(f"  organisation: {doc['organisation']}")
    print(f"  title:        {doc['title']}")
    print(f"  edition:      {_edition(doc)}   current version: {doc['version_no']}")
    print("  versions:")
    for v in versions:
        mark = "*" if v["current"] else " "
        print(
            f"   {mark}{v['version_no']:>3}  {v['added_at']}  {v['origin']:<7} {v['clauses']:>4} clauses  "
            f"{v['source'] or '-'}  edition: {_edition(v)}" + (f"  by {v['added_by']}" if v["added_by"] else "")
        )
    live = "live" if doc["status"] == "active" and vno == doc["version_no"] else "not cited"
    print(f"\nclauses of version {vno} ({live}):")
    for line in render_clauses(clauses):
        print(line)
    return 0


def cmd_remove(args) -> int:
    """``kb remove DOC``: the document is no longer cited; its versions stay for audit."""
    from knowledge.loaders import BadUpload

    admin = _admin(args)
    try:
        result = admin.remove(args.doc)
    except BadUpload as exc:
        return _fail(str(exc))
    queued, note = _queue_notices(admin, result)
    if args.json:
        print(json.dumps(result.to_json() | {"notices_queued": queued}, ensure_ascii=False))
    else:
        print(result.to_text())
        if note:
            print(note)
    return 0


def cmd_diff(args) -> int:
    """``kb diff DOC``: clauses added, removed and changed between two versions (default previous -> current)."""
    from knowledge.loaders import BadUpload

    try:
        d = _admin(args).diff(args.doc, args.from_version, args.to_version)
    except BadUpload as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps(d.to_json(), ensure_ascii=False))
        return 0

    def label(c: dict) -> str:
        where = " › ".join(p for p in (c.get("heading"), c.get("number")) if p)
        return f"{c['clause_id']}" + (f" [{where}]" if where else "")

    print(
        f"{d.doc_id}: version {d.from_version} -> {d.to_version}: {len(d.added)} added, {len(d.removed)} removed, "
        f"{len(d.changed)} changed, {d.unchanged} unchanged"
    )
    for a, b in d.changed:
        print(f"\n~ changed {label(a)} -> {label(b)}")
        if (a.get("lead_in") or "") != (b.get("lead_in") or ""):
            print(f"  - lead-in: {a.get('lead_in') or ''}")
            print(f"  + lead-in: {b.get('lead_in') or ''}")
        print(f"  - {a['text']}")
        print(f"  + {b['text']}")
    for c in d.removed:
        print(f"\n- removed {label(c)}\n  - {c['text']}")
    for c in d.added:
        print(f"\n+ added {label(c)}\n  + {c['text']}")
    return 0


def cmd_gaps(args) -> int:
    """``kb gaps``: abstained and Not-helpful questions grouped with counts, most frequent first."""
    from bot.upkeep.gaps import format_gaps

    bot = open_from_args(args)
    if args.clear:
        n = bot.gaps.clear()
        print(f"forgot {n} kept question(s)")
        return 0
    groups = bot.gaps.groups(since_days=args.days)
    if args.json:
        print(json.dumps([g.to_json() for g in groups[: args.limit]], ensure_ascii=False))
        return 0
    print(format_gaps(groups[: args.limit], total_groups=len(groups)))
    return 0


def _positive_int(text: str) -> int:
    import argparse

    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return n


def register(subparsers) -> None:
    """Add the ``kb`` command and its sub-commands to the ``policybot`` parser's ``subparsers``."""
    p = subparsers.add_parser("kb", help="manage the knowledge base: add, replace, remove, list, show, diff, gaps")
    sub = p.add_subparsers(dest="kb_command", required=True)

    def meta(q, replace: bool) -> None:
        q.add_argument(
            "--organisation",
            "--organization",
            dest="organisation",
            default=None,
            help="issuing organisation"
            + (
                " (default: unchanged)"
                if replace
                else " (default: one named in the title, else 'Unspecified organisation')"
            ),
        )
        q.add_argument(
            "--title",
            default=None,
            help="document title" + (" (default: unchanged)" if replace else " (default: first heading or file name)"),
        )
        q.add_argument("--version", default=None, help="version label shown in citations (default: the version number)")
        q.add_argument("--date", default=None, help="date shown in citations (default: 'added <today>')")
        q.add_argument("--dry-run", action="store_true", help="show the clauses it would create; change nothing")
        q.add_argument("--by", dest="added_by", default=None, help="who is making the change (kept for audit)")
        q.add_argument("--json", action="store_true")

    a = sub.add_parser("add", help="add a policy document (.txt, .md, .docx, .pdf)")
    a.add_argument("file")
    a.add_argument("--id", default=None, help="document id (default: from the title)")
    meta(a, replace=False)
    a.set_defaults(func=cmd_add)

    r = sub.add_parser("replace", help="add a new version of a document; the old one is kept for audit")
    r.add_argument("doc")
    r.add_argument("file")
    meta(r, replace=True)
    r.set_defaults(func=cmd_replace)

    q = sub.add_parser("list", help="list documents, one a line, id first")
    q.add_argument("--all", action="store_true", help="include removed documents")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_list)

    q = sub.add_parser("show", help="show a document, its versions and clauses")
    q.add_argument("doc")
    q.add_argument("--version", type=_positive_int, default=None, help="show this version's clauses (default: current)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_show)

    q = sub.add_parser("remove", help="stop citing a document (its versions are kept for audit)")
    q.add_argument("doc")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_remove)

    q = sub.add_parser("diff", help="clauses added, removed and changed between versions")
    q.add_argument("doc")
    q.add_argument(
        "--from", dest="from_version", type=_positive_int, default=None, help="older version (default: previous)"
    )
    q.add_argument("--to", dest="to_version", type=_positive_int, default=None, help="newer version (default: current)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_diff)

    q = sub.add_parser("gaps", help="questions the policies did not answer, grouped with counts")
    q.add_argument("--days", type=_positive_int, default=None, help="only the last N days")
    q.add_argument("--limit", type=_positive_int, default=30, help="most groups shown (default 30)")
    q.add_argument("--clear", action="store_true", help="forget all kept questions")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_gaps)
