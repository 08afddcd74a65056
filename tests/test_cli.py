"""The policybot command line, run as a real subprocess: text, JSON, JSON Lines and bad input."""

import json
import os
import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "adapters.cli"]


def run(args, data_dir, stdin=None, fake=True, timeout=120):
    env = dict(os.environ, POLICYBOT_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1")
    if fake:
        env["POLICYBOT_FAKE_EMBEDDER"] = "1"
    return subprocess.run(CLI + args, input=stdin, capture_output=True, env=env, timeout=timeout)


def test_ask_json_shape(tmp_path):
    p = run(["ask", "--json", "Never post pictures of service users or colleagues"], tmp_path)
    assert p.returncode == 0, p.stderr
    obj = json.loads(p.stdout)
    assert set(obj) >= {"question", "answered", "quotes"}
    assert obj["answered"] is True and 1 <= len(obj["quotes"]) <= 3
    for q in obj["quotes"]:
        assert set(q) >= {"clause_id", "text", "organisation", "document", "section", "score"}
        assert isinstance(q["score"], float)
    scores = [q["score"] for q in obj["quotes"]]
    assert obj["quotes"][0]["score"] == max(scores)


def test_json_lines_from_stdin(tmp_path):
    qs = "Can I post pictures of service users?\nWho do I tell about press contact?\n\nWhat is LinkedIn?\n"
    p = run(["ask", "--json", "-"], tmp_path, stdin=qs.encode())
    assert p.returncode == 0, p.stderr
    lines = p.stdout.decode().splitlines()
    assert [json.loads(l)["question"] for l in lines] == [
        "Can I post pictures of service users?",
        "Who do I tell about press contact?",
        "What is LinkedIn?",
    ]


@pytest.mark.parametrize(
    "args,stdin,needle",
    [
        (["ask", ""], None, b"Please type a question"),
        (["ask", "x" * 10_000], None, b"under 4,000 characters"),
    ],
)
def test_bad_questions_get_a_clear_message(tmp_path, args, stdin, needle):
    p = run(args, tmp_path, stdin=stdin)
    assert p.returncode == 2
    assert needle in p.stderr
    assert b"Traceback" not in p.stderr


def test_invalid_utf8_on_stdin_skips_that_line_only(tmp_path):
    p = run(["ask", "--json", "-"], tmp_path, stdin=b"What is LinkedIn?\n\xff\xfe broken\nWhat is Twitter?\n")
    assert p.returncode == 2
    assert b"Traceback" not in p.stderr and b"not valid UTF-8" in p.stderr
    objs = [json.loads(l) for l in p.stdout.decode().splitlines()]
    assert [o["question"] for o in objs] == ["What is LinkedIn?", None, "What is Twitter?"]
    assert "error" in objs[1]


def test_text_output_and_index_build(tmp_path):
    p = run(["index", "build"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert b"index ready: 208 clauses from 5 documents" in p.stdout
    p = run(["ask", "What is LinkedIn?"], tmp_path)
    assert p.returncode == 0
    assert "LinkedIn - a business related social networking site" in p.stdout.decode()
    assert "WBC" in p.stdout.decode()


@pytest.mark.model
def test_cli_with_real_model_answers_the_colleague_question(tmp_path):
    p = run(["ask", "--json", "can I accept a colleague's friend request?"], tmp_path, fake=False, timeout=300)
    assert p.returncode == 0, p.stderr
    obj = json.loads(p.stdout)
    texts = [q["text"] for q in obj["quotes"]]
    assert any("not advisable to accept people you work with as 'friends'" in t for t in texts), texts
    cwm = next(q for q in obj["quotes"] if "people you work with" in q["text"])
    assert cwm["organisation"].startswith("Cwm Taf")
