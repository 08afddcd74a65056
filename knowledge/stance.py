"""The stance a policy clause takes, read from its own wording (a deterministic rule, no model).

``stance_of(text, lead_in, topic)`` gives one of ``STANCES``; ``stance_evidence`` also gives the sentence that
decided it. Callers use ``SAYS_NOTHING`` for an organisation with no matching clause.

Patterns (matched case-insensitively, curly apostrophes folded, on one sentence at a time):

=================  ====================================================  ==========================================
stance             wording                                               example
=================  ====================================================  ==========================================
prohibits          must/shall not, may not/cannot (person subject),     "Users must not take any action which ..."
                   are not permitted/allowed to, is prohibited/
                   forbidden, under no circumstances, not (be)
                   tolerated, is not/never acceptable, considered
                   unacceptable, treated/deemed as misconduct or an
                   abuse; imperative "Do not ..."/"Never ..."           "Never post pictures of service users ..."
requires           must, shall, are required/expected to, it is         "Staff have a responsibility to report ..."
                   expected that, have a duty/responsibility to, are
                   responsible for, need to; plain positive should,
                   ought to; positive advice (advised/recommended/
                   encouraged to, it is recommended that); imperative
                   "Always ...", "Ensure ...", a bare imperative        "Check your security settings ..."
advises against    should not/never, should avoid/decline, advised/     "It is recommended that employees do not
                   recommended not to, it is recommended that ... do    post images ..."
                   not, it is not advisable, not recommended, is
                   discouraged, think carefully before, it is
                   inappropriate to; imperative "Avoid ..."
permits            may/can with a person subject, are permitted/        "Employees may use the Internet ... during
                   allowed/entitled to, it is acceptable/appropriate    their lunch break."
                   to, have a right to, need not, are not required to,
                   do not feel obliged/pressured
describes          none of the above: definitions, background, scope    "Cyber bullying is the use of ICT ..."
=================  ====================================================  ==========================================

Decisions: plain positive "should" and positive advice map to **requires** (the label set has no weaker positive
duty); "should not" and any advice not to, however strong ("strongly advised not to"), map to **advises
against**; "may"/"can" count only after a person subject ("you may", "employees can"), so "may include" and
"content can be stored" describe. A negation counts when it follows the modal within a few filler words
("should not", "should have absolutely no", "should be politely declined"), or, after "recommended/expected
that", anywhere in the that-clause; "should ensure that ... does not" is a duty to ensure (requires), and
"should note" has no negation.

Lead-ins: when the text has no deontic wording of its own, or reads as a continuation (starts in lower case or
with "not"/"never"/"to", or the lead-in ends in "to:", "that:", "should:", "not:" and the like), its first sentence is read with the lead-in's last sentence that has deontic wording (else its last sentence).
An item that starts with a negation ("Not post images ...") negates the lead-in: must-type -> prohibits,
should-type and may-type ("measures you can take: not replying ...") -> advises against. A bare imperative
is not looked for after a lead-in ending in "to:" (an infinitive list: "in order to: Safeguard ...").

Several sentences (split at . ! ? ; and before "but"): among those with deontic wording, the one sharing most
content words (lightly stemmed) with ``topic`` wins; ties, or no topic, go to the strongest stance in the order
prohibits > requires > advises against > permits; within a sentence the strongest stance counts.

Measured accuracy (tests/test_stance.py keeps both): the bundled labelled set (tests/data/stance_labels.json, the
rule was written on it) 75/77 = 97.4% (errors: a "should not" inside "it is not our intention to suggest that ..."
read as advice against, gold permits; "users may join groups" in a definition read as permits, gold describes).
Held-out clauses of the three real documents (tests/data/stance_labels_realdocs.json), labelled before the rule
was written and measured once afterwards: 17/33 = 51.5%. Its errors show what the rule does not know:
first-person undertakings ("I will not disclose ...", 4), bare imperatives whose object is a noun ("Raise concerns
promptly ...", "... , report to an external body"), active or adjectival forms ("we will not tolerate",
"prohibits retaliation", "treated as potential misconduct", "requested to", "encourages"), "may" after a non-person
subject ("Concerns may be raised ..."), "should feel free", a negation before the modal ("No reference should be
made ..."), and "should only ..., ... should not" in one sentence (the stronger "requires" wins). By gold label:
prohibits->describes 5, requires->describes 6, permits->describes 1, advises against->requires 2,
permits->requires 1, prohibits->permits 1.
"""

from __future__ import annotations

import re

STANCES = ("prohibits", "requires", "advises against", "permits", "describes")
SAYS_NOTHING = "says nothing"
_P, _R, _A, _M, _D = STANCES
_RANK = {s: i for i, s in enumerate(STANCES)}  # lower is stronger
_POS = {"must": _R, "should": _R, "may": _M}
_NEG = {"must": _P, "should": _A, "may": _P}
_ITEM_NEG = {"must": _P, "should": _A, "may": _A}  # a lead-in's modal negated by an item "not ..."

_SUBJ = (
    r"(?:you|we|they|he|she|he/she|s/he|i|employees?|staff|workers?|colleagues|managers?|volunteers?|users|"
    r"individuals|members|officers|practitioners|everyone|anyone)"
)
_FILL = r"(?:\s*(?:\w+ly|also|then|therefore|ever|however,?|at all times|be|have|make|:))*"
_NEGATOR = re.compile(_FILL + r"(?:\s+(?:not|never|no)\b|n?'t\b|not\b|\s+(?:avoid|refrain|declin\w*)\b)")
_THAT_NEG = re.compile(r"\b(?:not|never|avoid|refrain|declin\w*)\b|n't\b")
_FAMILY = [  # (pattern, family); the negation is looked for after the match
    (r"\bmust(?=n't|\b)|\bshall\b|\b(?:is|are|be|being)\s+(?:\w+ly\s+)?(?:required|expected|obliged)\s+to\b", "must"),
    (r"\bit\s+is\s+(?:\w+ly\s+)?(?:expected|required|essential|mandatory)\s+that\b", "must"),
    (r"\bha(?:ve|s)\s+(?:a|the)\s+(?:\w+\s+)?(?:duty|responsibility|obligation)\s+to\b", "must"),
    (r"\b(?:is|are)\s+responsible\s+for\b|\bthe\s+responsibility\s+of\b|(?<!not )(?<!n't )\bneeds?\s+to\b", "must"),
    (r"\bshould(?=n't|\b)|\bought\s+to\b", "should"),
    (r"\b(?:is|are|be)\s+(?:\w+ly\s+)?(?:advised|recommended|encouraged)(?=\s+(?:not\s+)?to\b)", "should"),
    (r"\bit\s+is\s+(?:also\s+|\w+ly\s+)?(?:recommended|advised|advisable)\s+(?:that|to)\b", "should"),
    (r"\b(?:we|i)\s+(?:would\s+)?(?:\w+ly\s+)?(?:advise|recommend)\b", "should"),
    (r"\b" + _SUBJ + r"\s+(?:\w+ly\s+|also\s+)?(?:may|can)(?=not\b|\b)", "may"),
]
_FIXED = [  # (pattern, stance)
    (r"\bnot\s+(?:be\s+)?tolerated\b|\b(?:is|are|be)\s+(?:strictly\s+)?(?:prohibited|forbidden)\b", _P),
    (r"\bunder\s+no\s+circumstances\b|\b(?:is|are|be)\s+(?:never|not)\s+acceptable\b", _P),
    (r"\b(?:is|are|be|consider(?:s|ed)?|deem(?:s|ed)?|regard(?:s|ed)?\s+as)\s+unacceptable\b", _P),
    (r"\b(?:treated|regarded|considered|deemed)\s+(?:as\s+)?(?:an?\s+)?(?:gross\s+)?(?:misconduct|abuse)\b", _P),
    (r"\b(?:is|are|be)\s+not\s+(?:permitted|allowed)\s+to\b|\bnot\s+be\s+(?:permitted|allowed)\s+to\b", _P),
    (r"\bnot\s+(?:\w+ly\s+)?(?:advisable|recommended)\b|\b(?:is|are|be)\s+(?:\w+ly\s+)?discouraged\b", _A),
    (r"\bthink\s+carefully\s+before\b|\b(?:is|are)\s+(?:\w+ly\s+)?inappropriate\s+(?:to|for)\b", _A),
    (
        r"\b(?:is|are|be)\s+(?:\w+ly\s+)?(?:permitted|allowed|entitled)\s+to\b|\bha(?:ve|s)\s+(?:a|the)\s+right\s+to\b",
        _M,
    ),
    (r"\b(?:is|are|be)\s+(?:\w+ly\s+)?(?:acceptable|appropriate|permissible)\s+(?:for\s+\S+(?:\s+\S+)?\s+)?to\b", _M),
    (r"\bneed\s+not\b|\b(?:do|does)\s+not\s+(?:need|have)\s+to\b|\bdon't\s+(?:need|have)\s+to\b", _M),
    (
        r"\b(?:is|are)\s+not\s+(?:required|obliged)\s+to\b|\b(?:do\s+not|don't)\s+feel\s+(?:obliged|pressured|compelled)\b",
        _M,
    ),
]
_OPENER = r"^(?:(?:if|when|where|before|after|once|whilst|while|unless)\b[^,]*,\s*)?(?:please\s+)?"
_IMPERATIVE = [
    (re.compile(_OPENER + r"(?:do\s+not|don't|never)\b(?!\s+feel\s+(?:obliged|pressured|compelled))"), _P),
    (re.compile(_OPENER + r"(?:always|ensure|make\s+sure)\b"), _R),
    (re.compile(_OPENER + r"(?:avoid|refrain)\b"), _A),
]
_BARE = re.compile(
    _OPENER + r"([a-z]+)\s+(?:your|yourself|yourselves|all|any|every|the|a|an|them|it|this|these|those|others|"
    r"up|out|through|off|down|back|away)\b"
)
_FUNCTION = set(
    "a an the this that these those it its there they them we you he she i our your their his her if when where "
    "while whilst as although though in on at for to of by with from into over under since during within without "
    "across between among until upon via despite all any some many most each every no "
    "such other what which who whom how and or but however also once before after so then thus therefore not "
    "is are was were be been has have had do does did will would can could may might must should shall".split()
)
_STOP = _FUNCTION | {"about", "than", "only", "own", "more", "very", "being", "using"}
_SPLIT = re.compile(r"(?<!e\.g\.)(?<!i\.e\.)(?<!etc\.)(?<!N\.B\.)(?<=[.!?;])\s+|,?\s+but\s+")
_CONTINUES = re.compile(r"\b(?:to|that|by|for|of|not|should|must|will|shall|can|may):\s|:\s+(?:not|never|to)\b")
_COMPILED = [(re.compile(p), f) for p, f in _FAMILY]
_COMPILED_FIXED = [(re.compile(p), s) for p, s in _FIXED]
_FOLD = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "*": ""})
_Hit = tuple[str, str]  # (stance, family or "")


def _norm(s: str) -> str:
    s = s.translate(_FOLD)
    return re.sub(r"\s+", " ", s).strip().lower()


def _pieces(s: str) -> list[str]:
    return [p for p in _SPLIT.split(s) if p and p.strip()]


def _hits(piece: str, imperative: bool) -> list[_Hit]:
    """Every deontic cue in one sentence: (stance, family), family "" for fixed phrases."""
    s = _norm(piece)
    out: list[_Hit] = []
    for rx, fam in _COMPILED:
        for m in rx.finditer(s):
            rest = s[m.end() :]
            neg = bool(_NEGATOR.match(rest)) or (m.group().endswith("that") and bool(_THAT_NEG.search(rest)))
            out.append(((_NEG if neg else _POS)[fam], fam))
    out += [(st, "") for rx, st in _COMPILED_FIXED if rx.search(s)]
    out += [(st, "") for rx, st in _IMPERATIVE if rx.search(s)]
    if not out and imperative and (bare := _BARE.match(s)):
        w = bare.group(1)
        if (
            w not in _FUNCTION
            and not w.endswith(("ing", "ed", "ly"))
            and not (w.endswith("s") and not w.endswith("ss"))
        ):
            out.append((_R, ""))
    return out


def _words(s: str) -> set[str]:
    out = set()
    for w in re.findall(r"[a-z]+", _norm(s)):
        if w in _STOP:
            continue
        for suf in ("ing", "ed", "es", "s", "e"):
            if w.endswith(suf) and len(w) - len(suf) >= 3:
                w = w[: -len(suf)]
                break
        out.add(w)
    return out


def _lower_start(s: str) -> bool:
    return next((c.islower() for c in s if c.isalpha()), False)


def _best(hits: list[_Hit]) -> str:
    return min((h[0] for h in hits), key=_RANK.__getitem__)


def stance_evidence(text: str, lead_in: str | None = None, topic: str | None = None) -> tuple[str, str | None]:
    """The stance of a clause and the sentence that decided it.

    Args:
        text: the clause, verbatim.
        lead_in: the sentence(s) the clause completes (e.g. ``"Employees must not:"``), or None.
        topic: what the caller asks about (e.g. ``"friend requests from pupils"``); picks among sentences.

    Returns:
        ``(stance, sentence)``: stance is one of ``STANCES``; sentence is a verbatim substring of ``lead_in`` or
        ``text`` (whitespace as in the input), or None when the stance is ``"describes"``. Never raises on any
        strings; empty text describes.
    """
    pieces = _pieces(text)
    if not pieces:
        return _D, None
    own = [_hits(p, imperative=False) for p in pieces]
    lead_pieces = _pieces(lead_in) if lead_in else []
    cands: list[tuple[str, str, str]] = []  # (stance, evidence, piece the topic is matched on)
    for i, p in enumerate(pieces):
        hits, lower = own[i], _lower_start(p)
        if i == 0 and lead_pieces and (lower or not any(own) or _CONTINUES.search(_norm(lead_pieces[-1] + " " + p))):
            lead_sent = next((s for s in reversed(lead_pieces) if _hits(s, False)), lead_pieces[-1])
            item_neg = bool(re.match(r"(?:not|never|do not|don't)\b", _norm(p)))
            lead_hits = [((_ITEM_NEG[f] if item_neg and f else s), f) for s, f in _hits(lead_sent, False)]
            hits = hits or _hits(p, imperative=not lower and not _norm(lead_pieces[-1]).endswith("to:"))
            if hits or lead_hits:
                stance = _best(hits + lead_hits)
                from_text = item_neg or (bool(hits) and _best(hits) == stance)
                cands.append((stance, p if from_text else lead_sent, p))
            continue
        hits = hits or (_hits(p, imperative=True) if not lower else [])
        if hits:
            cands.append((_best(hits), p, p))
    if not cands:
        return _D, None
    want = _words(topic) if topic else set()
    stance, evidence, _ = max(cands, key=lambda c: (len(want & _words(c[2])), -_RANK[c[0]]))
    return stance, evidence.strip()


def stance_of(text: str, lead_in: str | None = None, topic: str | None = None) -> str:
    """The stance of a clause: one of ``STANCES`` (see the module docstring for the rule). Never raises."""
    return stance_evidence(text, lead_in, topic)[0]
