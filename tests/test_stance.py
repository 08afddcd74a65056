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
REALDOCS_SET = json.loads((DATA / "stance_labels_realdocs.json").read_text(encoding="utf-8"))
FRESH = json.loads((DATA / "stance_labels_fresh.json").read_text(encoding="utf-8"))
FRESH2 = json.loads((DATA / "stance_labels_fresh2.json").read_text(encoding="utf-8"))
# Version 3 of the rule, clauses right on each set (version 1: 75/77, 17/33, 70/107; version 2: 75/77, 32/33, 82/107,
# 59/86). The bundled, real-document and fresh sets are its tuning data; the second fresh set was labelled before it
# and measured once. Each floor is one clause below the measured figure: one more error passes, two fail.
BUNDLED_RIGHT, REALDOCS_RIGHT, FRESH_RIGHT, FRESH2_RIGHT = 75, 32, 98, 64

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
    ("text", "expected"),
    [
        # first-person undertakings ("we will" is the organisation's own and describes)
        ("I will not disclose my password to anyone.", P),
        ("I won’t share my login details.", P),
        ("I will only use school email to contact parents.", R),
        ("I will report any concerns to the safeguarding lead.", R),
        ("I agree to follow the acceptable use rules.", R),
        ("We will review this policy every year.", D),
        ("I understand that the school will monitor my use of email.", D),
        # bare imperatives with a noun object or a preposition, in a whole sentence
        ("Raise concerns promptly with your line manager.", R),
        ("Report to the designated safeguarding lead without delay.", R),
        ("If in doubt, speak to your manager.", R),
        ("Keep records and share them with the safeguarding lead.", R),
        ("Online contact with young people made as part of professional duties.", D),  # a noun phrase
        ("Media companies also publish material on the site.", D),  # a lexical verb, no adverb or "and"
        ("Copyright covers printed and electronic material.", D),
        ("CEOP Child Exploitation and Online Protection Centre.", D),  # an acronym
        ("Meadow Pathways encourages prompt reporting of concerns.", R),  # a name, then "encourages"
        # active deontic verbs, finite only
        ("The school prohibits the use of personal phones in classrooms.", P),
        ("We will not tolerate bullying of any kind.", P),
        ("The council does not allow staff to use personal email for work.", P),
        ("The trust expects all staff to complete safeguarding training.", R),
        ("Employees are therefore requested to report wrongdoing to their manager.", R),
        ("We request that employees do not befriend pupils online.", P),  # a negation in the that-clause
        ("The school asks staff not to discuss pupils on social media.", P),  # a negation after the object
        ("We encourage staff not to use their own devices.", A),
        ("The academy allows staff to use their phones at lunch.", M),
        ("Staff are free to raise concerns with any manager.", M),
        ("If you are unhappy, you should feel free to contact HR.", M),  # not a positive "should"
        ("The aim of this procedure is to encourage employees to come forward.", D),  # an infinitive
        ("This allows us to communicate with parents quickly.", D),  # not a permission to a person
        ("Never post pictures of pupils, even if they ask you to do so.", P),  # "they ask" is no request
        # sanctions
        ("Malicious allegations will be treated as potential misconduct.", P),
        ("Any breach may be dealt with as a disciplinary matter.", P),
        # passive permissions, in a main clause; "we may" is the employer's discretion
        ("Concerns may be raised verbally or in writing.", M),
        ("Personal devices may not be used in classrooms.", P),
        ("Records are kept where personal data may be shared with other agencies.", D),
        ("It may be necessary to record the incident.", D),
        ("We may monitor staff use of the internet.", D),
        ("If the concern is malicious, we may take disciplinary action.", D),
        # a negation before the modal, as the subject's determiner
        ("No reference should be made to pupils on social media.", A),
        ("No personal data must be stored on memory sticks.", P),
        ("Nothing may be posted on the school page without approval.", P),
        ("Staff who have no contact with pupils should still read this policy.", R),  # "no" inside the subject
    ],
)
def test_version_2_pattern_families(text: str, expected: str) -> None:
    assert stance_of(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # "is (not) to": a person's duty, a thing's prohibition; a purpose is no duty
        ("The telephone is not to be used for personal calls.", P),
        ("It is not to be used for raising personal complaints.", P),
        ("The employee is to contact his or her supervisor.", R),
        ("The aim of this policy is to encourage reporting.", D),
        ("The policy is to be reviewed annually.", D),
        # a passive "will not be <done>": prohibits a thing's use, protects a person
        ("School email addresses will not be used for personal accounts.", P),
        ("Staff raising a genuine concern will not be penalised.", D),
        ("Anyone who raises a concern in good faith will not be disadvantaged.", D),
        ("If the phone is lost, it will not be replaced.", D),  # a subordinate clause before the modal
        # sanctions on an act; the employer's own action describes
        ("Breaches may constitute gross misconduct.", P),
        ("An employee who files a false report will be subject to discipline.", P),
        ("Misuse of the internet may result in disciplinary action.", P),
        ("Such behaviour could lead to dismissal.", P),
        ("The council will take disciplinary action where needed.", D),
        # "avoided", and caution before "avoid"
        ("Personal calls should be avoided during working hours.", A),
        ("Personal calls must be avoided.", P),
        ("Care should be taken to avoid using offensive language.", A),
        ("Staff should be careful to avoid sharing passwords.", A),
        ("Care should be taken when lifting.", R),  # no negation after "taken"
        ("Be wary of what photographs you put online.", A),
        ("Exercise caution when sharing opinions online.", A),
        # a demonstrative determiner is no subordinate clause; a demonstrative pronoun still is
        ("These tablets may not be taken out of the nursery.", P),
        ("These may be used at lunch.", D),
        # permissions: without "to", a right respected, not responsible for doing; "No ..." before one prohibits
        ("Reasonable use is permitted in the event of an emergency.", M),
        ("Smoking is not permitted on site.", P),
        ("No such individual will be permitted to have unsupervised contact with children.", P),
        ("The school respects the right of staff to keep a blog.", M),
        ("Staff are within their rights to use social networking websites.", M),
        ("The whistleblower is not responsible for investigating the activity.", M),
        ("The school is not responsible for lost phones.", D),  # no act the person need not do
        ("Anyone who works here can raise a concern.", M),  # a distant subject
        ("Anyone found breaching this policy may face disciplinary action.", P),  # the sanction is stronger
        ("Anyone who may be affected should read this policy.", R),  # "may be" is no permission
        # "Please <do>"
        ("Please give as much information as possible.", R),
        ("Please note that calls are recorded.", D),
        ("Please feel free to contact HR.", M),
    ],
)
def test_version_3_pattern_families(text: str, expected: str) -> None:
    assert stance_of(text) == expected


def test_version_3_lead_ins_and_and_splices() -> None:
    requirements = "For staff, requirements typically include:"
    assert stance_of("Using the tightest privacy settings possible", requirements) == R
    assert stance_of("Not accepting friend requests from current pupils", requirements) == P
    assert stance_of("Examples typically include: online contact") == D  # no requirement named
    assert stance_of("The names of any witnesses", "Please give as much information as possible:") == R
    text = "Staff should not join parents' groups, and all contact should be through school email."
    assert stance_evidence(text, topic="joining parents' groups") == (A, "Staff should not join parents' groups")
    assert stance_evidence(text, topic="contact through school email")[0] == R


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
        # version 2: an item with its own deontic wording decides alone
        (
            "School staff should ensure that:",
            "No reference should be made to pupils online.",
            A,
            "No reference should be made to pupils online.",
        ),
        (
            "School staff should ensure that:",
            "They do not discuss pupils online.",
            R,
            "School staff should ensure that:",
        ),
        ("Team members are not allowed to:", "Give their phone numbers to you", P, "Team members are not allowed to:"),
        ("Examples include:", "Online contact with pupils.", D, None),  # no loose imperative in a list item
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


def test_a_comma_splice_is_two_clauses_for_the_topic() -> None:
    text = "Images should only be taken on school cameras, the personal phones of staff should not be used for this."
    assert stance_evidence(text, topic="personal phones") == (
        A,
        "the personal phones of staff should not be used for this.",
    )
    assert stance_evidence(text, topic="school cameras") == (R, "Images should only be taken on school cameras")
    assert stance_of("If he/she is unsure, he/she must check with a line manager.") == R  # one clause with a cue


def test_evidence_is_verbatim_or_none() -> None:
    for e in BUNDLED + REALDOCS_SET + FRESH + FRESH2:
        stance, sentence = stance_evidence(e["text"], e["lead_in"], e["topic"])
        assert stance in STANCES
        if stance == D:
            assert sentence is None
        else:
            assert sentence and (sentence in e["text"] or sentence in (e["lead_in"] or ""))


def _right(entries: list[dict[str, str | None]]) -> tuple[int, Counter[tuple[str, str]]]:
    """Clauses labelled right, and the errors as (gold, got) counts."""
    errors: Counter[tuple[str, str]] = Counter()
    for e in entries:
        got = stance_of(str(e["text"]), e["lead_in"], e["topic"])
        if got != e["label"]:
            errors[(str(e["label"]), got)] += 1
    return len(entries) - sum(errors.values()), errors


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
    right, errors = _right(BUNDLED)
    assert right >= BUNDLED_RIGHT - 1, (right, errors)


@pytest.mark.skipif(not REALDOCS.is_dir(), reason="shared/realdocs is not beside the repository")
def test_accuracy_on_the_real_documents() -> None:
    from knowledge.loaders import extract

    _check_shape(REALDOCS_SET)
    assert len(REALDOCS_SET) >= 15
    sources = {}
    for name in {e["doc"] for e in REALDOCS_SET}:
        path = REALDOCS / str(name)
        sources[name] = normalise(extract(path.read_bytes(), path.name, max_bytes=64 << 20).text)
    for e in REALDOCS_SET:
        assert len(e["text"]) <= 200 and normalise(e["text"]) in sources[e["doc"]], e["text"]
        assert not e["lead_in"] or normalise(e["lead_in"]) in sources[e["doc"]], e["lead_in"]
    right, errors = _right(REALDOCS_SET)
    assert right >= REALDOCS_RIGHT - 1, (right, errors)


@pytest.mark.parametrize(("entries", "size", "organisations"), [(FRESH, 40, 3), (FRESH2, 60, 12)])
def test_fresh_labels_are_spread_over_organisations_and_stances(
    entries: list[dict[str, str | None]], size: int, organisations: int
) -> None:
    for e in entries:
        assert set(e) == {"source", "organisation", "lead_in", "text", "topic", "label"}, e
        assert e["label"] in STANCES and e["text"] and e["topic"] and e["source"] and e["organisation"], e
        assert len(str(e["text"])) <= 250, e["text"]
    assert len(entries) >= size
    assert len({e["organisation"] for e in entries}) >= organisations
    assert set(Counter(e["label"] for e in entries)) == set(STANCES)


def test_the_second_fresh_set_is_other_organisations() -> None:
    assert not {e["organisation"] for e in FRESH2} & {e["organisation"] for e in FRESH}
    assert not {e["source"] for e in FRESH2} & {e["source"] for e in FRESH}


def test_accuracy_on_the_fresh_set() -> None:
    right, errors = _right(FRESH)
    assert right >= FRESH_RIGHT - 1, (right, errors)


def test_accuracy_on_the_second_fresh_set() -> None:
    right, errors = _right(FRESH2)
    assert right >= FRESH2_RIGHT - 1, (right, errors)
