"""Query normalisation for the way staff write in chat.

Two small tables, both applied word by word to the lower-cased question:

* ``SPELLING`` rewrites chat spellings and abbreviations in place ("cn i add sum1 on fb" ->
  "can i add someone on facebook"), so the embedder sees an ordinary sentence.
* ``RELATED`` appends the policies' own vocabulary for everyday words ("boss" adds "manager",
  "journalist" adds "press media"), which helps keyword search find the clause.
"""

from __future__ import annotations

import re

SPELLING = {
    "cn": "can", "cna": "can", "u": "you", "ur": "your", "r": "are", "y": "why", "wat": "what", "wot": "what",
    "wht": "what", "whats": "what is", "wats": "what is", "hw": "how", "abt": "about", "bout": "about",
    "sum1": "someone", "some1": "someone", "any1": "anyone", "every1": "everyone", "ppl": "people",
    "pple": "people", "plz": "please", "pls": "please", "thx": "thanks", "im": "i am", "ive": "i have",
    "dont": "do not", "cant": "can not", "wont": "will not", "shud": "should", "shld": "should",
    "wud": "would", "cud": "could", "gonna": "going to", "wanna": "want to", "gotta": "have to",
    "b4": "before", "2day": "today", "2moro": "tomorrow", "tmrw": "tomorrow", "msg": "message",
    "msgs": "messages", "txt": "text", "txts": "texts", "pic": "picture", "pics": "pictures",
    "pix": "pictures", "piccy": "picture", "piccies": "pictures", "foto": "photo", "fotos": "photos",
    "fb": "facebook", "facebk": "facebook", "face book": "facebook", "insta": "instagram", "ig": "instagram",
    "twit": "twitter", "x": "twitter", "tiktok": "tik tok", "snap": "snapchat", "yt": "youtube",
    "dm": "direct message", "dms": "direct messages", "pw": "password", "pwd": "password",
    "passwd": "password", "info": "information", "mgr": "manager", "mngr": "manager", "hr": "human resources",
    "colleage": "colleague", "collegue": "colleague", "colleauge": "colleague", "coleague": "colleague",
    "freind": "friend", "freinds": "friends", "frend": "friend", "frends": "friends", "req": "request",
    "requst": "request", "servce": "service", "sevice": "service", "usr": "user", "wrk": "work",
    "werk": "work", "workin": "working", "postin": "posting", "bcoz": "because", "cos": "because",
    "coz": "because", "bc": "because", "ok": "okay", "k": "okay", "n": "and", "&": "and",
    "fone": "phone", "mob": "mobile", "no.": "number", "num": "number",
}

RELATED = {
    "boss": "manager", "supervisor": "manager", "mates": "friends", "mate": "friend", "pal": "friend",
    "add": "friend request", "follow": "friend request contact", "befriend": "friend request",
    "client": "service user", "clients": "service users", "resident": "service user",
    "residents": "service users", "patient": "service user", "patients": "service users",
    "family": "families", "relative": "family", "relatives": "family",
    "journalist": "press media", "journalists": "press media", "reporter": "press media",
    "newspaper": "press media", "paper": "press media", "news": "press media", "tv": "media",
    "fake": "clone identity", "impersonating": "clone identity", "impersonate": "clone identity",
    "copied": "clone", "cloned": "clone", "pretending": "identity",
    "slagging": "offensive comments", "slag": "offensive comments", "trolling": "bullying harassment",
    "troll": "bullying", "harassing": "harassment", "abuse": "abusive bullying", "abusive": "abuse bullying",
    "bullied": "bullying", "bully": "bullying", "threatening": "threatening harassment",
    "rant": "let off steam", "moan": "let off steam", "vent": "let off steam", "venting": "let off steam",
    "sacked": "dismissal disciplinary", "fired": "dismissal disciplinary", "trouble": "disciplinary",
    "photo": "images pictures", "photos": "images pictures", "picture": "images photographs",
    "pictures": "images photographs", "selfie": "images", "selfies": "images", "video": "images",
    "lunch": "lunch break", "break": "lunch break", "shift": "working hours", "hours": "working hours",
    "private": "privacy settings", "visible": "privacy settings", "hacked": "passwords security",
    "password": "passwords", "secure": "security", "safe": "security", "evidence": "evidence saving logging",
    "screenshot": "evidence saving", "screenshots": "evidence saving", "proof": "evidence",
    "kids": "children young people", "kid": "child young person", "teenager": "young person",
    "teenagers": "young people", "child": "young person", "children": "young people",
    "employer": "council", "job": "employment role", "bio": "profile", "linkedin": "business networking",
    "secret": "confidential", "confidential": "confidentiality", "logo": "logos", "views": "opinions",
    "political": "political restrictions", "politics": "political restrictions", "illegal": "unlawful",
    "report": "notify manager", "tell": "notify", "phone": "mobile number", "number": "mobile",
    "email": "e-mail address", "address": "personal details", "birthday": "date of birth",
}

_TOKEN = re.compile(r"[a-z0-9&]+(?:'[a-z]+)?|[^\sa-z0-9]")


def expand_query(question: str) -> str:
    """Normalise ``question`` for retrieval: fix chat spellings, then append related policy words.

    Returns a lower-cased string; the original wording is kept (only rewritten where misspelt).
    """
    text = question.lower().replace("face book", "facebook").replace("’", "'")
    words = [SPELLING.get(w, w) for w in _TOKEN.findall(text)]
    base = " ".join(words)
    base = re.sub(r" ([?.!,;:])", r"\1", base)
    extra: list[str] = []
    for w in re.findall(r"[a-z0-9]+", base):
        rel = RELATED.get(w)
        if rel and rel not in extra:
            extra.append(rel)
    return base if not extra else f"{base} ({' '.join(extra)})"
