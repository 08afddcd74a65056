"""Query normalisation for the way staff write in chat.

Two small tables, both applied word by word to the lower-cased question:

* ``SPELLING`` rewrites chat spellings and abbreviations in place ("cn i add sum1 on fb" ->
  "can i add someone on facebook"), so the embedder sees an ordinary sentence.
* ``RELATED`` (single words) and ``PHRASES`` append the policies' own vocabulary for everyday words
  ("boss" adds "manager", "people I support" adds "service users"), which helps both searches.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

SPELLING = {
    "cn": "can",
    "cna": "can",
    "u": "you",
    "ur": "your",
    "r": "are",
    "y": "why",
    "wat": "what",
    "wot": "what",
    "wht": "what",
    "whats": "what is",
    "wats": "what is",
    "hw": "how",
    "abt": "about",
    "bout": "about",
    "sum1": "someone",
    "some1": "someone",
    "any1": "anyone",
    "every1": "everyone",
    "ppl": "people",
    "pple": "people",
    "plz": "please",
    "pls": "please",
    "thx": "thanks",
    "im": "i am",
    "ive": "i have",
    "dont": "do not",
    "cant": "can not",
    "wont": "will not",
    "shud": "should",
    "shld": "should",
    "wud": "would",
    "cud": "could",
    "gonna": "going to",
    "wanna": "want to",
    "gotta": "have to",
    "b4": "before",
    "2day": "today",
    "2moro": "tomorrow",
    "tmrw": "tomorrow",
    "msg": "message",
    "msgs": "messages",
    "txt": "text",
    "txts": "texts",
    "pic": "picture",
    "pics": "pictures",
    "pix": "pictures",
    "piccy": "picture",
    "piccies": "pictures",
    "foto": "photo",
    "fotos": "photos",
    "fb": "facebook",
    "facebk": "facebook",
    "face book": "facebook",
    "insta": "instagram",
    "ig": "instagram",
    "twit": "twitter",
    "x": "twitter",
    "tiktok": "tik tok",
    "snap": "snapchat",
    "yt": "youtube",
    "dm": "direct message",
    "dms": "direct messages",
    "pw": "password",
    "pwd": "password",
    "passwd": "password",
    "info": "information",
    "mgr": "manager",
    "mngr": "manager",
    "hr": "human resources",
    "colleage": "colleague",
    "collegue": "colleague",
    "colleauge": "colleague",
    "coleague": "colleague",
    "freind": "friend",
    "freinds": "friends",
    "frend": "friend",
    "frends": "friends",
    "req": "request",
    "requst": "request",
    "servce": "service",
    "sevice": "service",
    "usr": "user",
    "wrk": "work",
    "werk": "work",
    "workin": "working",
    "postin": "posting",
    "bcoz": "because",
    "cos": "because",
    "coz": "because",
    "bc": "because",
    "ok": "okay",
    "k": "okay",
    "n": "and",
    "&": "and",
    "fone": "phone",
    "mob": "mobile",
    "no.": "number",
    "num": "number",
}

RELATED = {
    "supervisor": "manager",
    "mates": "friends",
    "mate": "friend",
    "pal": "friend",
    "add": "friend request",
    "follow": "friend request contact",
    "befriend": "friend request",
    "client": "service user",
    "clients": "service users",
    "resident": "service user",
    "residents": "service users",
    "patient": "service user",
    "patients": "service users",
    "family": "families",
    "relative": "family",
    "relatives": "family",
    "journalist": "press media",
    "journalists": "press media",
    "reporter": "press media",
    "newspaper": "press media",
    "paper": "press media",
    "news": "press media",
    "tv": "media",
    "fake": "clone identity",
    "impersonating": "clone identity",
    "impersonate": "clone identity",
    "copied": "clone",
    "cloned": "clone",
    "pretending": "identity",
    "slagging": "offensive comments",
    "slag": "offensive comments",
    "trolling": "bullying harassment",
    "troll": "bullying",
    "harassing": "harassment",
    "abuse": "abusive bullying",
    "abusive": "abuse bullying",
    "bullied": "bullying",
    "bully": "bullying",
    "threatening": "threatening harassment",
    "rant": "let off steam",
    "moan": "let off steam",
    "vent": "let off steam",
    "venting": "let off steam",
    "sacked": "dismissal disciplinary",
    "fired": "dismissal disciplinary",
    "trouble": "disciplinary",
    "photo": "images pictures",
    "photos": "images pictures",
    "pic": "images pictures",
    "picture": "images photographs",
    "pictures": "images photographs",
    "selfies": "images",
    "video": "images",
    "lunch": "lunch break",
    "break": "lunch break",
    "shift": "working hours",
    "hours": "working hours",
    "private": "privacy settings",
    "visible": "privacy settings",
    "hacked": "passwords security",
    "password": "passwords",
    "secure": "security",
    "safe": "security",
    "evidence": "evidence saving logging",
    "screenshot": "evidence saving",
    "screenshots": "evidence saving",
    "proof": "evidence",
    "kids": "children young people",
    "kid": "child young person",
    "teenager": "young person",
    "teenagers": "young people",
    "child": "young person",
    "children": "young people",
    "son": "family",
    "daughter": "family",
    "sons": "family",
    "daughters": "family",
    "mum": "family",
    "dad": "family",
    "husband": "family",
    "wife": "family",
    "parents": "family",
    "niece": "relatives young people",
    "nephew": "relatives young people",
    "cousin": "relatives",
    "facebook": "social networking sites",
    "instagram": "social networking sites",
    "twitter": "social networking sites",
    "tik": "social networking sites",
    "snapchat": "social networking sites",
    "whatsapp": "social networking",
    "online": "social networking sites",
    "apps": "social networking sites",
    "dating": "relationships adults",
    "seeing": "relationships",
    "date": "relationships",
    "relationship": "relationships",
    "romantic": "relationships",
    "used": "previous no longer",
    "former": "previous no longer",
    "ex": "previous no longer",
    "selfie": "images of yourself",
    "uniform": "work environment",
    "workplace": "work environment",
    "case": "service users practice work related issues",
    "cases": "service users practice work related issues",
    "look": "gather information",
    "stalk": "gather information",
    "snoop": "gather information",
    "research": "gather information",
    "checking": "gather information",
    "call": "comments",
    "shame": "comments defamatory",
    "complained": "complaints",
    "complain": "complaints",
    "refer": "referral allegations",
    "risk": "allegations safeguarding",
    "memes": "material",
    "meme": "material",
    "rude": "offensive sexual",
    "sexy": "sexual",
    "nude": "sexually explicit",
    "boss": "manager people you work with",
    "colleague": "people you work with colleagues",
    "colleagues": "people you work with",
    "team": "colleagues people you work with",
    "coworker": "colleague",
    "crime": "criminal offence illegal",
    "criminal": "criminal offence illegal",
    "set": "create",
    "setup": "create",
    "start": "create",
    "group": "groups pages",
    "page": "web pages",
    "opinion": "opinions attitudes",
    "beliefs": "opinions attitudes",
    "vote": "political",
    "voting": "political",
    "party": "political",
    "campaign": "political causes",
    "employer": "council",
    "job": "employment role",
    "bio": "profile",
    "linkedin": "business networking",
    "secret": "confidential",
    "confidential": "confidentiality",
    "logo": "logos",
    "views": "opinions attitudes",
    "political": "political restrictions",
    "politics": "political restrictions",
    "illegal": "unlawful",
    "report": "notify manager",
    "tell": "notify",
    "phone": "mobile number",
    "number": "mobile",
    "email": "e-mail address",
    "address": "personal details",
    "birthday": "date of birth",
}

#: multi-word phrases (matched on the spelling-corrected question) and the policy words they add
PHRASES = {
    "people i care for": "service users",
    "people i support": "service users",
    "people we support": "service users",
    "people we care for": "service users",
    "people i look after": "service users",
    "people on my caseload": "service users",
    "the person i support": "service user",
    "people i work with": "colleagues",
    "work from home": "working from home",
    "working from home": "working from home",
    "on shift": "working day work environment",
    "at work": "work environment",
    "friend request": "friend request",
    "follow me": "friend request contact",
}

_TOKEN = re.compile(r"[a-z0-9&]+(?:'[a-z]+)?|[^\sa-z0-9]")


def rewrite_query(question: str) -> str:
    """``question`` in the policies' words: spellings fixed, then each phrase or word that has
    related policy vocabulary replaced by it ("a colleague's friend request" -> "a people you work with
    colleagues friend request"). A second query for dense search, where appending is not enough."""
    text = question.lower().replace("face book", "facebook").replace("’", "'")
    base = " ".join(SPELLING.get(w, w) for w in _TOKEN.findall(text))
    for phrase, rel in PHRASES.items():
        base = base.replace(phrase, rel)
    out = []
    for w in _TOKEN.findall(base):
        stem = w[:-2] if w.endswith("'s") else w
        out.append(RELATED.get(stem, w))
    return re.sub(r" ([?.!,;:])", r"\1", " ".join(out))


def fix_spelling(question: str) -> str:
    """``question`` lower-cased with chat spellings fixed ("cn i add sum1 on fb" -> "can i add someone on
    facebook"), no policy words added: the keyword query that does not lean on ``RELATED``/``PHRASES``."""
    text = question.lower().replace("face book", "facebook").replace("’", "'")
    return re.sub(r" ([?.!,;:])", r"\1", " ".join(SPELLING.get(w, w) for w in _TOKEN.findall(text)))


def expand_query(question: str) -> str:
    """Normalise ``question`` for retrieval: fix chat spellings, then append related policy words.

    Returns a lower-cased string; the original wording is kept (only rewritten where misspelt).
    """
    text = question.lower().replace("face book", "facebook").replace("’", "'")
    words = [SPELLING.get(w, w) for w in _TOKEN.findall(text)]
    base = " ".join(words)
    base = re.sub(r" ([?.!,;:])", r"\1", base)
    extra: list[str] = [rel for phrase, rel in PHRASES.items() if phrase in base]
    for w in re.findall(r"[a-z0-9]+", base):
        rel = RELATED.get(w)
        if rel and rel not in extra:
            extra.append(rel)
    return base if not extra else f"{base} ({' '.join(extra)})"


def entries_used(question: str) -> set[tuple[str, str]]:
    """The ``RELATED`` words and ``PHRASES`` that fire on ``question``.

    Returns ``{("word", w), ...} | {("phrase", p), ...}``; ``SPELLING`` fixes are not listed (they
    only normalise chat spelling). Used to measure how retrieval fares on vocabulary the tables were
    not written for (``bot.evaluate.evaluate_unseen_vocabulary``).
    """
    text = question.lower().replace("face book", "facebook").replace("’", "'")
    base = " ".join(SPELLING.get(w, w) for w in _TOKEN.findall(text))
    used = {("phrase", p) for p in PHRASES if p in base}
    for w in _TOKEN.findall(base):
        for cand in (w, w[:-2] if w.endswith("'s") else w):
            if cand in RELATED:
                used.add(("word", cand))
    return used


@contextmanager
def without_entries(entries: set[tuple[str, str]]) -> Iterator[None]:
    """Within the block, ``expand_query`` and ``rewrite_query`` ignore ``entries`` (as from ``entries_used``).

    The tables are restored on exit, also after an error. Changes module state: for offline
    evaluation only, never while a server is answering from the same process.
    """
    saved_related, saved_phrases = dict(RELATED), dict(PHRASES)
    for kind, key in entries:
        (RELATED if kind == "word" else PHRASES).pop(key, None)
    try:
        yield
    finally:
        RELATED.clear()
        RELATED.update(saved_related)
        PHRASES.clear()
        PHRASES.update(saved_phrases)
