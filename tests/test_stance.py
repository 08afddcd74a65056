"""The stance rule (knowledge/stance.py): pattern families, negation traps, lead-ins, topic choice, accuracy."""

import json
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from knowledge.segment import normalise
from knowledge.stance import SAYS_NOTHING, STANCES, stance_evidence, stance_of

DATA = Path(__file__).parent / "data"
POLICIES = Path(__file__).resolve().parents[1] / "knowledge" / "policies"
REALDOCS = Path(__file__).resolve().parents[2] / "shared" / "realdocs"
BUNDLED = json.loads((DATA / "stance_labels.json").read_text(encoding="utf-8"))
HELD_OUT = json.loads((DATA / "stance_labels_realdocs.json").read_text(encoding="utf-8"))
BUNDLED_ACCURACY = 75 / 77  # measured when the rule was written on this set
HELD_OUT_ACCURACY = 17 / 33  # measured once, after the rule was written, on clauses it had not seen
# a small margin each: one more error than measured passes, two fail
BUNDLED_MARGIN, HELD_OUT_MARGIN = 0.02, 0.04

P, R, A, M, D = STANCES


def test_labels_and_sentinel() -> None:
    assert STANCES == ("prohibits", "requires", "advises against", "permits", "describes")
    assert SAYS_NOTHING == "says nothing" and SAYS_NOTHING not in STANCES


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # prohibits
        ("Employees must not accept friend requests from pupils.", P),
        ("Staff shall not contact pupils on social media.", P),
        ("You may not use your own phone in class.", P),
        ("You cannot use personal devices to take photographs.", P),
        ("Staff are not permitted to share passwords.", P),
        ("Use of personal email is prohibited.", P),
        ("Under no circumstances should staff meet pupils online.", P),
        ("Cyber bullying will not be tolerated.", P),
        ("Never post pictures of pupils.", P),
        ("Do not accept friend requests from pupils.", P),
        ("Don’t accept friend requests from pupils.", P),  # curly apostrophe
        ("Staff are reminded that they must not contact pupils online.", P),
        ("Such conduct will be treated as misconduct.", P),
        # requires
        ("Employees must keep records of online contact.", R),
        ("If he/she is unsure, he/she must check with a line manager.", R),
        ("Staff are required to report concerns.", R),
        ("Staff have a duty to report any concerns.", R),
        ("Employees need to be mindful of what they post.", R),
        ("Staff should report concerns to their manager.", R),  # plain positive should
        ("Employees should ensure that their posts do not breach policy.", R),  # a duty to ensure
        ("Staff should note the dates of any incidents.", R),  # "note" is no negation
        ("Always log online contact with pupils.", R),
        ("Check your privacy settings regularly.", R),  # bare imperative
        ("Employees are strongly recommended to check their privacy settings.", R),  # positive advice
        # advises against
        ("Staff should not accept friend requests from pupils.", A),
        ("Staff shouldn’t accept friend requests from pupils.", A),
        ("Staff should never accept friend requests from pupils.", A),
        ("Employees should have absolutely no private contact with pupils.", A),
        ("Friend requests should be politely declined.", A),
        ("Staff should avoid online contact with pupils.", A),
        ("Staff are strongly advised not to accept friend requests.", A),
        ("It is recommended that employees do not post images of their homes.", A),
        ("It is not advisable to accept colleagues as friends.", A),
        ("Private messaging with pupils is discouraged.", A),
        ("Think carefully before posting images of yourself.", A),
        ("It is inappropriate to request contact with a service user.", A),
        # permits
        ("Employees may use the internet during their lunch break.", M),
        ("You can ignore a friend request.", M),
        ("Staff are allowed to use their phones at lunch.", M),
        ("It is acceptable to use social media in your own time.", M),
        ("Staff need not accept friend requests.", M),
        # describes
        ("Social networking sites are used to share photographs with friends.", D),
        ("These behaviours may constitute harassment.", D),  # "may" without a person subject is not permission
        ("Content can be stored by switching the history setting on.", D),
        ("To ensure all employees are aware of their responsibilities.", D),
        ("Over the past years the use of such sites has become popular.", D),
        ("", D),
    ],
)
def test_pattern_families(text: str, expected: str) -> None:
    assert stance_of(text) == expected


@pytest.mark.parametrize(
    ("lead_in", "text", "expected", "evidence"),
    [
        ("Employees must not:", "accept friend requests from pupils.", P, "Employees must not:"),
        ("Employees may:", "accept friend requests from former pupils.", M, "Employees may:"),
        ("Employees:", "should not create groups about their work.", A, "should not create groups about their work."),
        ("Staff should be required to:", "Not post images of pupils.", P, "Not post images of pupils."),
        ("There are measures you can take:", "not replying to a bullying message", A, None),
        (
            "You are reminded that it is expected that you:",
            "Develop a friendly relationship with clear boundaries.",
            R,
            None,
        ),
        (
            "It is a list. The following would be considered unacceptable. Please note it is not exhaustive:",
            "Posting photographs of pupils.",
            P,
            "The following would be considered unacceptable.",
        ),
        ("The purpose of this guidance is to:", "protect pupils from harm", D, None),
        (
            "The purpose of this document is to provide guidance in order to:",
            "Safeguard the privacy of service users.",
            D,
            None,
        ),
        ("Staff must follow these rules:", "You may use your phone at lunch.", M, "You may use your phone at lunch."),
    ],
)
def test_lead_in(lead_in: str, text: str, expected: str, evidence: str | None) -> None:
    stance, sentence = stance_evidence(text, lead_in)
    assert stance == expected
    if evidence is not None:
        assert sentence == evidence
    if stance == D:
        assert sentence is None
    else:
        assert sentence is not None and (sentence in text or sentence in lead_in)


MIXED = (
    "Employees are strongly recommended to check that their privacy settings only allow friends to see their "
    "profiles. It is also advised that employees do not accept friend requests from people they do not know. "
    "Staff may use social media at lunch."
)


def test_topic_picks_the_sentence_and_strength_breaks_ties() -> None:
    assert stance_evidence(MIXED, topic="privacy settings")[0] == R
    stance, sentence = stance_evidence(MIXED, topic="accepting friend requests")
    assert stance == A and sentence is not None and sentence.startswith("It is also advised")
    assert stance_of(MIXED, topic="social media at lunch") == M
    assert stance_of(MIXED) == R  # no topic: the strongest sentence
    assert stance_of(MIXED, topic="something else entirely") == R  # no overlap anywhere: a tie on 0
    assert (
        stance_of(
            "You should check your agency policy but it is not advisable to accept colleagues as friends.",
            topic="accepting colleagues as friends",
        )
        == A
    )


def test_evidence_is_verbatim_or_none() -> None:
    for e in BUNDLED + HELD_OUT:
        stance, sentence = stance_evidence(e["text"], e["lead_in"], e["topic"])
        assert stance in STANCES
        if stance == D:
            assert sentence is None
        else:
            assert sentence and (sentence in e["text"] or sentence in (e["lead_in"] or ""))


def _accuracy(entries: list[dict[str, str | None]]) -> tuple[float, Counter[tuple[str, str]]]:
    errors: Counter[tuple[str, str]] = Counter()
    for e in entries:
        got = stance_of(str(e["text"]), e["lead_in"], e["topic"])
        if got != e["label"]:
            errors[(str(e["label"]), got)] += 1
    return 1 - sum(errors.values()) / len(entries), errors


def _check_shape(entries: list[dict[str, str | None]]) -> None:
    for e in entries:
        assert set(e) == {"doc", "lead_in", "text", "topic", "label"}, e
        assert e["label"] in STANCES and e["text"] and e["topic"], e


def test_bundled_labels_are_verbatim_and_spread() -> None:
    _check_shape(BUNDLED)
    catalog = tomllib.loads((POLICIES / "catalog.toml").read_text(encoding="utf-8"))
    files = {d["id"]: POLICIES / d["file"] for d in catalog["document"]}
    sources = {doc: normalise(path.read_text(encoding="utf-8")) for doc, path in files.items()}
    for e in BUNDLED:
        assert normalise(e["text"]) in sources[e["doc"]], e["text"]
        if e["lead_in"]:
            assert normalise(e["lead_in"]) in sources[e["doc"]], e["lead_in"]
    assert len(BUNDLED) >= 40
    assert set(Counter(e["doc"] for e in BUNDLED)) == set(files)
    assert set(Counter(e["label"] for e in BUNDLED)) == set(STANCES)


def test_accuracy_on_the_bundled_labelled_set() -> None:
    accuracy, errors = _accuracy(BUNDLED)
    assert accuracy >= BUNDLED_ACCURACY - BUNDLED_MARGIN, (accuracy, errors)


@pytest.mark.skipif(not REALDOCS.is_dir(), reason="shared/realdocs is not beside the repository")
def test_accuracy_on_the_held_out_real_documents() -> None:
    from knowledge.loaders import extract

    _check_shape(HELD_OUT)
    assert len(HELD_OUT) >= 15
    sources = {}
    for name in {e["doc"] for e in HELD_OUT}:
        path = REALDOCS / str(name)
        sources[name] = normalise(extract(path.read_bytes(), path.name, max_bytes=64 << 20).text)
    for e in HELD_OUT:
        assert len(e["text"]) <= 200 and normalise(e["text"]) in sources[e["doc"]], e["text"]
        assert not e["lead_in"] or normalise(e["lead_in"]) in sources[e["doc"]], e["lead_in"]
    accuracy, errors = _accuracy(HELD_OUT)
    assert accuracy >= HELD_OUT_ACCURACY - HELD_OUT_MARGIN, (accuracy, errors)
