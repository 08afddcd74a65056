"""Question-form views: obligation clauses rewritten as first-person questions (``question_form``),
on the fake embedder (real-model figures are in test_retrieval.py)."""

import json

import pytest

import index.retrieve as retrieve
from index.embed import FakeEmbedder
from index.retrieve import KnowledgeIndex, clause_views, impersonal_question, question_form
from index.store import ClauseRecord
from index.vectors import VectorIndex


@pytest.mark.parametrize(
    "sentence, question",
    [
        (
            "Employees should not accept friend requests from service users.",
            "Can I accept friend requests from service users?",
        ),
        (
            "Staff must not post images of residents on their personal accounts.",
            "Can I post images of residents on my personal accounts?",
        ),
        (
            "Members of staff are not permitted to use their work email for personal sign-ups.",
            "Can I use my work email for personal sign-ups?",
        ),
        (
            "Volunteers are advised not to share their home address with families.",
            "Can I share my home address with families?",
        ),
        ("Workers should never discuss a pupil's progress online.", "Can I discuss a pupil's progress online?"),
        (
            "All employees must report any online abuse to their line manager.",
            "Should I report any online abuse to my line manager?",
        ),
        (
            "Individuals are expected to keep themselves informed of changes.",
            "Should I keep myself informed of changes?",
        ),
        ("Staff may use their own phones during breaks.", "Can I use my own phones during breaks?"),
        (
            "An employee should check with his/her manager before posting.",
            "Should I check with my manager before posting?",
        ),
        ("You should always use your own judgement.", "Should I use my own judgement?"),
        ("It is recommended that employees do not post images of their homes.", "Can I post images of my homes?"),
        ("Employees using messaging apps should be required to not share rotas.", "Can I share rotas?"),
        ("Employees should be mindful of what they post.", "Should I be mindful of what I post?"),
    ],
)
def test_obligations_become_first_person_questions(sentence, question):
    assert question_form(sentence) == question


def test_imperatives_and_the_addressee():
    assert (
        question_form("Do not upload any images of yourself in uniform.")
        == "Can I upload any images of myself in uniform?"
    )
    assert (
        question_form("Never post pictures of children even if they ask you to do so.")
        == "Can I post pictures of children even if they ask me to do so?"
    )  # "they" are the children here
    assert question_form("Not to refer to their employer online") == "Can I refer to my employer online?"
    assert question_form("Always log out of shared computers.") == "Should I log out of shared computers?"


@pytest.mark.parametrize(
    "sentence, question",
    [
        (
            "I will not disclose my username or password to anyone else.",
            "Can I disclose my username or password to anyone else?",
        ),
        (
            "I will only communicate with parents using official school systems.",
            "Can I communicate with parents using official school systems?",
        ),
        ("I will ensure that my data is regularly backed up.", "Should I ensure that my data is regularly backed up?"),
        (
            "Personal email addresses, text messaging or social media must not be used for these communications.",
            "Can personal email addresses, text messaging or social media be used for these communications?",
        ),
        (
            "Concerns may be raised verbally, by phone, or in writing.",
            "Can concerns be raised verbally, by phone, or in writing?",
        ),
        (
            "Receipt of the concern will be acknowledged within five working days.",
            "Will receipt of the concern be acknowledged within five working days?",
        ),
        ("The employee will normally be informed of the outcome.", "Will I be informed of the outcome?"),
        ("Staff must be trained in their duties.", "Should I be trained in my duties?"),
        ("ICT equipment should always be locked away.", "Should ICT equipment be locked away?"),
    ],
)
def test_pledges_and_modal_passives_become_questions(sentence, question):
    assert question_form(sentence) == question


def test_impersonal_advice_anywhere_in_a_sentence_becomes_a_question():
    assert (
        impersonal_question(
            "You should check your agency policy but it is not advisable to accept people you work with as 'friends'."
        )
        == "Can I accept people I work with as 'friends'?"
    )
    assert impersonal_question("It is important to keep your passwords safe.") == "Should I keep my passwords safe?"
    assert (
        impersonal_question("It is inappropriate for staff to contact pupils on their own accounts.")
        == "Can I contact pupils on my own accounts?"
    )
    assert impersonal_question("It is a good idea.") is None
    assert impersonal_question("Staff must report concerns.") is None
    views = clause_views(
        _clause("You should check your agency policy but it is not advisable to accept people you work with.")
    )
    assert "Can I accept people I work with?" in views


@pytest.mark.parametrize(
    "sentence",
    [
        "This policy applies to all staff.",
        "Cyber bullying is never acceptable.",
        "Facebook - a social networking service",
        "You are reminded that care should be taken with social media.",
        "Staff should not.",
        "",
        "I understand that the school will monitor my use of email.",
        "I will be careful.",
        "If it is needed it will be sent.",
    ],
)
def test_statements_that_are_not_obligations_give_none(sentence):
    assert question_form(sentence) is None


def _clause(text, lead_in=None, heading="Social media"):
    return ClauseRecord(1, "x:001", "x", text, heading, None, lead_in, "bullet", text, "Org", "Doc", None, 1)


def test_clause_views_add_the_question_and_keep_the_clause_text_first():
    views = clause_views(
        _clause("should not accept friend requests from young people they work with.", lead_in="Employees:")
    )
    assert views[0] == "should not accept friend requests from young people they work with."
    assert views[-1] == "Can I accept friend requests from young people I work with?"
    plain = clause_views(_clause("The council recognises the value of social media."))
    assert not any(v.startswith(("Can I", "Should I")) for v in plain)


def test_clause_views_without_question_views(monkeypatch):
    clause = _clause("Staff must not share passwords.")
    assert "Can I share passwords?" in clause_views(clause)
    monkeypatch.setattr(retrieve, "QUESTION_VIEWS", False)
    assert "Can I share passwords?" not in clause_views(clause)


def test_an_index_built_from_other_views_is_rebuilt(fake_bot):
    fake_bot.index.refresh()
    path = fake_bot.index.vector_path
    header = json.loads(path.with_name(path.name + ".json").read_text())
    assert header["views"] == retrieve.VIEWS_VERSION == 4
    assert VectorIndex.load(path, "fake-hash", 256, views=1) is None
    header.pop("views")  # as written before views were versioned
    path.with_name(path.name + ".json").write_text(json.dumps(header))
    again = KnowledgeIndex(fake_bot.store, FakeEmbedder(), path)
    stats = again.refresh()
    assert stats["added"] == 208 and stats["embedded"] == 0  # every vector came from the cache
    assert len(again.snapshot.vectors) == sum(len(clause_views(c)) for c in again.snapshot.clauses.values())
