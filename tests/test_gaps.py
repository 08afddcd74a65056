"""Gaps: abstained questions and Not-helpful answers are kept (question text only by default) and
reported grouped with counts, most frequent first."""

import dataclasses

import pytest

from bot.upkeep.gaps import GapLog, format_gaps, question_key

OFF_TOPIC = "Xylophone quokka zebra?"  # the fake embedder abstains on it (checked in the tests)


def rows(bot):
    return list(bot.store.db.query("SELECT question, question_key, reason, user_id, clause_ids FROM gaps ORDER BY id"))


def test_abstentions_are_kept_without_user_ids_by_default(fake_bot):
    assert fake_bot.settings.gaps_keep_users is False
    answer = fake_bot.ask(OFF_TOPIC, user_id="alice")
    assert not answer.answered
    assert rows(fake_bot) == [
        {
            "question": OFF_TOPIC,
            "question_key": "xylophone quokka zebra",
            "reason": "abstained",
            "user_id": None,
            "clause_ids": None,
        }
    ]


def test_answered_questions_and_record_gap_false_keep_nothing(fake_bot):
    assert fake_bot.ask("Never post pictures of service users or colleagues").answered
    fake_bot.ask(OFF_TOPIC, record_gap=False)
    assert rows(fake_bot) == []


def test_user_ids_only_when_configured(fake_bot):
    fake_bot.settings = dataclasses.replace(fake_bot.settings, gaps_keep_users=True)
    fake_bot.ask(OFF_TOPIC, user_id="alice")
    fake_bot.record_feedback("Can I post photos?", helpful=False, clause_ids=["wbc:031"], user_id="bob")
    assert [r["user_id"] for r in rows(fake_bot)] == ["alice", "bob"]
    assert fake_bot.gaps.groups()[0].users == 1


def test_env_setting_is_read_when_the_data_dir_is_opened(tmp_path, monkeypatch):
    from bot.app import open_policybot
    from index.embed import FakeEmbedder

    monkeypatch.setenv("POLICYBOT_GAPS_KEEP_USERS", "1")
    bot = open_policybot(tmp_path, embedder=FakeEmbedder())
    assert bot.settings.gaps_keep_users is True


def test_feedback(fake_bot):
    assert fake_bot.record_feedback("Can I post photos of residents?", helpful=True, clause_ids=["wbc:031"]) is False
    assert (
        fake_bot.record_feedback("Can I post photos of residents?", helpful=False, clause_ids=["wbc:031", "medway:022"])
        is True
    )
    (row,) = rows(fake_bot)
    assert (
        row["reason"] == "not_helpful" and row["clause_ids"] == '["wbc:031", "medway:022"]' and row["user_id"] is None
    )


def test_groups_with_counts_most_frequent_first(fake_bot):
    # questions the fake embedder abstains on ("can I ..." would match clauses' question-form views)
    asked = [
        "Where do I park my bike at the depot?",
        "where do i park my bike at the depot",
        "WHERE DO I PARK MY BIKE AT THE DEPOT??",
        OFF_TOPIC,
    ]
    for q in asked:
        assert not fake_bot.ask(q).answered, q
    fake_bot.record_feedback("Where do I park my bike at the depot", helpful=False)
    groups = fake_bot.gaps.groups()
    assert [(g.key, g.count, g.abstained, g.not_helpful) for g in groups] == [
        ("where do i park my bike at the depot", 4, 3, 1),
        ("xylophone quokka zebra", 1, 1, 0),
    ]
    assert groups[0].question == "Where do I park my bike at the depot"  # the latest wording
    text = format_gaps(groups)
    assert (
        text.splitlines()[1].strip().startswith("4×  Where do I park my bike at the depot  (3 no answer, 1 not helpful")
    )
    assert fake_bot.gaps.groups(limit=1) == groups[:1]
    assert fake_bot.gaps.groups(since_days=1) == groups


def test_old_gaps_fall_outside_since_days_and_can_be_cleared(fake_bot):
    fake_bot.ask(OFF_TOPIC)
    fake_bot.store.db.execute("UPDATE gaps SET created_at = '2001-01-01T00:00:00+00:00'")
    fake_bot.store.db.conn.commit()
    assert fake_bot.gaps.groups(since_days=30) == []
    assert len(fake_bot.gaps.groups()) == 1
    assert fake_bot.gaps.clear() == 1 and fake_bot.gaps.groups() == []


def test_hr_sees_gaps_through_the_admin_api(fake_bot):
    admin = fake_bot.kb_admin(is_hr=lambda u: u == "hana")
    fake_bot.ask(OFF_TOPIC)
    assert "1×  Xylophone quokka zebra?" in admin.gaps_text(user_id="hana")
    assert format_gaps([]) == "No unanswered questions have been kept."


def test_question_key():
    assert question_key("  Can I  use ‘WhatsApp’ for rota-swaps?! ") == "can i use whatsapp for rota swaps"
    assert question_key("Isn’t it OK?") == question_key("isn't it ok")
    assert question_key("?!") == ""


def test_bad_reason_and_empty_question(fake_bot):
    log = GapLog(fake_bot.store)
    with pytest.raises(ValueError):
        log.record("q", "bored")
    assert log.record("?!", "abstained") is False


def test_a_database_error_does_not_break_answering(fake_bot, monkeypatch):
    import sqlite3

    def locked(*a, **k):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(fake_bot.store, "add_gap", locked)
    assert fake_bot.ask(OFF_TOPIC).answered is False


def test_a_gap_can_be_kept_with_the_time_it_was_asked(fake_bot):
    from datetime import UTC, datetime

    log = GapLog(fake_bot.store)
    assert log.record("can I vlog on shift?", "abstained", at=datetime(2026, 11, 2, 9, 30, tzinfo=UTC))
    (group,) = log.groups()
    assert group.first_seen == group.last_seen == "2026-11-02T09:30:00+00:00"
    with pytest.raises(ValueError, match="aware"):
        fake_bot.store.add_gap("q", "q", "abstained", at=datetime(2026, 11, 2))
