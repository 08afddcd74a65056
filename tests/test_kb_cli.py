"""``policybot kb ...`` run as a real subprocess (fake embedder): add, list, show, replace, diff,
remove, gaps, and bad input (exit code 2, a clear message, no traceback, nothing changed)."""

import json
import os
import subprocess
import sys

import pytest
from kb_helpers import NORTHBROOK_MD, encrypt_pdf, make_docx, make_pdf

CLI = [sys.executable, "-m", "adapters.cli"]
MD = NORTHBROOK_MD.read_text(encoding="utf-8")
ORG = "Northbrook District Council"


def run(args, data_dir, fake=True, timeout=180, env_extra=None):
    env = dict(os.environ, POLICYBOT_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1")
    if fake:
        env["POLICYBOT_FAKE_EMBEDDER"] = "1"
    env.update(env_extra or {})
    p = subprocess.run(CLI + [str(a) for a in args], capture_output=True, env=env, timeout=timeout)
    p.out, p.err = p.stdout.decode(), p.stderr.decode()
    return p


def kb_state(data_dir):
    p = run(["kb", "list", "--all", "--json"], data_dir)
    assert p.returncode == 0, p.err
    return json.loads(p.out)


@pytest.fixture
def files(tmp_path):
    d = tmp_path / "files"
    d.mkdir()
    (d / "northbrook.docx").write_bytes(make_docx(MD))
    (d / "northbrook.pdf").write_bytes(make_pdf(MD, lines_per_page=14))
    v2 = MD.replace("Staff must not live-stream", "Staff must never live-stream")
    (d / "northbrook-v2.md").write_text(v2 + "\nThis guidance is reviewed every year by the HR Policy Team.\n")
    return d


def test_add_list_show_replace_diff_remove(tmp_path, files):
    data = tmp_path / "data"
    p = run(["kb", "add", files / "northbrook.docx", "--organisation", ORG, "--dry-run"], data)
    assert p.returncode == 0, p.err
    assert "12 clause(s)" in p.out and "dry run: nothing was changed" in p.out
    assert "Staff must not live-stream from council buildings" in p.out
    assert [d["doc_id"] for d in kb_state(data)] == ["cwm-taf", "forest-federation", "medway", "wbc", "wfcs"]

    p = run(
        ["kb", "add", files / "northbrook.docx", "--organisation", ORG, "--id", "northbrook", "--version", "2025.1"],
        data,
    )
    assert p.returncode == 0, p.err
    assert "Added northbrook version 1: 12 clause(s) live." in p.out
    assert "(v 2025.1, added " in p.out

    p = run(["kb", "list"], data)
    lines = p.out.splitlines()
    assert len(lines) == 6
    nb = next(l for l in lines if l.startswith("northbrook "))
    assert "12 clauses" in nb and ORG in nb and "Social Media Guidance for Staff" in nb
    assert all(l.split()[0] in {"cwm-taf", "forest-federation", "medway", "wbc", "wfcs", "northbrook"} for l in lines)

    p = run(["ask", "--json", "Can we use a WhatsApp group to arrange rota swaps?"], data)
    obj = json.loads(p.out)
    assert obj["answered"] and obj["quotes"][0]["clause_id"].startswith("northbrook:")
    assert obj["quotes"][0]["edition"].startswith("v 2025.1, added ")

    p = run(["kb", "replace", "northbrook", files / "northbrook-v2.md"], data)
    assert p.returncode == 0, p.err
    assert "Replaced northbrook version 2: 13 clause(s) live." in p.out
    assert "1 added, 0 removed, 1 changed, 11 unchanged" in p.out

    p = run(["kb", "diff", "northbrook"], data)
    assert p.returncode == 0, p.err
    assert "version 1 -> 2: 1 added, 0 removed, 1 changed, 11 unchanged" in p.out
    assert "  - Staff must not live-stream" in p.out and "  + Staff must never live-stream" in p.out
    assert "+ added northbrook:013" in p.out
    d = json.loads(run(["kb", "diff", "northbrook", "--json"], data).out)
    assert d["from_version"] == 1 and len(d["changed"]) == 1

    p = run(["kb", "show", "northbrook"], data)
    assert p.returncode == 0, p.err
    assert "current version: 2" in p.out and "northbrook.docx" in p.out and "northbrook-v2.md" in p.out
    assert "Staff must never live-stream" in p.out
    p = run(["kb", "show", "northbrook", "--version", "1"], data)
    assert "clauses of version 1 (not cited)" in p.out and "Staff must not live-stream" in p.out

    p = run(["kb", "remove", "northbrook"], data)
    assert p.returncode == 0, p.err
    assert "Removed northbrook: its 13 clause(s) are no longer cited" in p.out
    assert "northbrook" not in run(["kb", "list"], data).out
    assert "[removed]" in run(["kb", "list", "--all"], data).out
    obj = json.loads(run(["ask", "--json", "Can we use a WhatsApp group to arrange rota swaps?"], data).out)
    assert not any(q["clause_id"].startswith("northbrook") for q in obj["quotes"])


def test_add_pdf_with_defaults_warns_about_the_organisation(tmp_path, files):
    p = run(["kb", "add", files / "northbrook.pdf", "--json"], tmp_path / "data")
    assert p.returncode == 0, p.err
    assert "warning: Organisation taken from the document" in p.err
    obj = json.loads(p.out)
    assert obj["organisation"] == ORG and obj["clauses"] == 12 and obj["action"] == "added"


BAD_FILES = [
    ("policy.doc", "files are not supported"),
    ("locked.pdf", "encrypted PDF; please upload an unprotected copy"),
    ("broken.pdf", "could not be read as a PDF"),
    ("empty.md", "is empty"),
    ("headings.md", "no policy text that could be cut into clauses"),
    ("huge.pdf", "is 50 MB; the limit is 10 MB"),
    ("missing.pdf", "no such file"),
    ("broken.docx", "could not be read as a Word document"),
]


def test_bad_files_exit_2_with_a_clear_message_and_change_nothing(tmp_path, monkeypatch, capsys):
    """In-process through ``main(argv)`` for speed; one case again as a subprocess below."""
    from adapters.cli import main

    d = tmp_path / "files"
    d.mkdir()
    (d / "policy.doc").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    (d / "locked.pdf").write_bytes(encrypt_pdf(make_pdf(MD)))
    (d / "broken.pdf").write_bytes(make_pdf(MD)[:300])
    (d / "empty.md").write_bytes(b"")
    (d / "headings.md").write_text("# Title\n## Section one\n## Section two\n")
    with open(d / "huge.pdf", "wb") as fh:
        fh.truncate(50 * 1024 * 1024)  # sparse
    (d / "broken.docx").write_bytes(b"PK\x03\x04" + os.urandom(200))
    data = tmp_path / "data"
    monkeypatch.setenv("POLICYBOT_FAKE_EMBEDDER", "1")
    monkeypatch.setenv("POLICYBOT_DATA_DIR", str(data))
    before = kb_state(data)
    for name, needle in BAD_FILES:
        for argv in (["kb", "add", str(d / name)], ["kb", "replace", "wbc", str(d / name)]):
            assert main(argv) == 2, argv
            err = capsys.readouterr().err
            assert err.startswith("error: ") and needle in err, (argv, err)
            assert "Traceback" not in err
    assert kb_state(data) == before


def test_bad_file_as_a_subprocess(tmp_path):
    big = tmp_path / "huge.docx"
    with open(big, "wb") as fh:
        fh.truncate(50 * 1024 * 1024)
    p = run(["kb", "add", big, "--organisation", "X"], tmp_path / "data")
    assert p.returncode == 2
    assert p.err == "error: huge.docx is 50 MB; the limit is 10 MB. Please upload a smaller file.\n"


def test_same_file_twice_is_refused(tmp_path, files):
    data = tmp_path / "data"
    assert run(["kb", "add", files / "northbrook.docx", "--organisation", ORG], data).returncode == 0
    before = kb_state(data)
    p = run(["kb", "add", files / "northbrook.docx", "--organisation", ORG], data)
    assert p.returncode == 2
    assert "is already in the knowledge base as northbrook-social-media-guidance-for-staff (version 1" in p.err
    assert kb_state(data) == before
    p = run(["kb", "replace", "northbrook-social-media-guidance-for-staff", files / "northbrook.docx"], data)
    assert p.returncode == 2 and "identical to the current version 1" in p.err
    assert kb_state(data) == before


@pytest.mark.parametrize(
    "args,needle",
    [
        (["kb", "remove", "nope"], "There is no active document 'nope'"),
        (["kb", "show", "nope"], "there is no document 'nope'"),
        (["kb", "diff", "wbc"], "has no version before version 1"),
        (["kb", "diff", "nope"], "There is no document 'nope'"),
        (["kb", "show", "wbc", "--version", "9"], "has no version 9"),
        (["kb", "replace", "nope", "x.md"], "no such file"),
    ],
)
def test_bad_document_arguments(tmp_path, args, needle):
    p = run(args, tmp_path / "data")
    assert p.returncode == 2, p.out
    assert needle in p.err and "Traceback" not in p.err


def test_gaps_command(tmp_path, monkeypatch, capsys):
    from adapters.cli import main

    monkeypatch.setenv("POLICYBOT_FAKE_EMBEDDER", "1")
    monkeypatch.setenv("POLICYBOT_DATA_DIR", str(tmp_path / "data"))

    def cli(*argv):
        assert main(list(argv)) == 0
        return capsys.readouterr().out

    for q in ["Xylophone quokka zebra?", "xylophone quokka, zebra", "Qwzx vbnm plok?"]:
        assert "couldn't find anything" in cli("ask", q)
    lines = cli("kb", "gaps").splitlines()
    assert lines[1].strip().startswith("2×  xylophone quokka, zebra  (2 no answer")
    assert lines[2].strip().startswith("1×  Qwzx vbnm plok?")
    obj = json.loads(cli("kb", "gaps", "--json", "--limit", "1"))
    assert [(g["key"], g["count"]) for g in obj] == [("xylophone quokka zebra", 2)]
    assert "forgot 3" in cli("kb", "gaps", "--clear")
    assert "No unanswered questions" in cli("kb", "gaps")


def test_kb_help_lists_the_commands(tmp_path):
    p = run(["kb", "--help"], tmp_path)
    assert p.returncode == 0
    for cmd in ("add", "list", "show", "replace", "remove", "diff", "gaps"):
        assert cmd in p.out


def test_add_shows_the_details_and_where_each_came_from_before_committing(tmp_path, files):
    data = tmp_path / "data"
    p = run(["kb", "add", files / "northbrook.docx", "--version", "2025.1", "--dry-run"], data)
    assert p.returncode == 0, p.err
    lines = p.out.splitlines()
    assert lines[0].startswith(f"Citations will read: {ORG} — Social Media Guidance for Staff (v 2025.1, ")
    assert lines[1] == "  title:        Social Media Guidance for Staff  (from the document; --title to change)"
    assert lines[2] == f"  organisation: {ORG}  (from the document; --organisation to change)"
    assert lines[3] == "  version:      2025.1  (as given)"
    assert lines[4].startswith("  date:         ") and lines[4].endswith("--date to change)")

    p = run(["kb", "add", files / "northbrook.docx", "--organisation", "Southfield Borough Council", "--json"], data)
    assert p.returncode == 0, p.err
    obj = json.loads(p.out)
    assert obj["organisation"] == "Southfield Borough Council" and obj["sources"]["organisation"] == "given"
    assert obj["sources"]["title"] == "document"


@pytest.mark.parametrize(
    "flag,value,needle",
    [
        ("--title", "", "--title: Title cannot be empty."),
        ("--organisation", "N" * 500, "--organisation: Organisation is 500 characters; the most is 200."),
        ("--date", "March\n2026", "--date: Date must be one line of plain text"),
    ],
)
def test_bad_detail_flags_exit_2_and_change_nothing(tmp_path, files, flag, value, needle):
    data = tmp_path / "data"
    before = kb_state(data)
    p = run(["kb", "add", files / "northbrook.docx", flag, value], data)
    assert p.returncode == 2 and needle in p.err and "Traceback" not in p.err
    assert kb_state(data) == before
