"""Micro-batching of question encodes (``index.batching``) and the index's prefetch (real FAISS, fake embedder)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from index.batching import EncodeBatcher
from index.embed import FakeEmbedder


class Gated(FakeEmbedder):
    """A fake embedder whose first call waits for ``gate``, so later submissions queue up behind it."""

    def __init__(self):
        super().__init__()
        self.gate = threading.Event()
        self.calls: list[int] = []

    def encode(self, texts, progress=False):
        self.calls.append(len(texts))
        if len(self.calls) == 1:
            assert self.gate.wait(30)
        return super().encode(texts)


def test_questions_submitted_meanwhile_are_encoded_in_one_call():
    encoder = Gated()
    batcher = EncodeBatcher(encoder)
    first = batcher.submit(["first question"])
    while not encoder.calls:  # the worker is inside its first (gated) call
        threading.Event().wait(0.001)
    later = [batcher.submit([f"question {i}", f"rewritten {i}"]) for i in range(5)]
    encoder.gate.set()
    for f in [first, *later]:
        f.result(timeout=30)
    assert encoder.calls == [1, 10]  # five questions, two texts each, in one call
    assert (batcher.batches, batcher.texts) == (2, 11)
    taken = batcher.take(["question 3", "rewritten 3"])
    np.testing.assert_array_equal(taken, FakeEmbedder().encode(["question 3", "rewritten 3"]))
    assert batcher.take(["question 3", "rewritten 3"]) is None  # taken once
    assert batcher.take(["question 4", "not submitted"]) is None  # all or nothing
    batcher.close()


def test_waiting_vectors_expire_and_keep_no_text():
    now = [0.0]
    batcher = EncodeBatcher(FakeEmbedder(), ttl=30, timer=lambda: now[0])
    batcher.submit(["I saw a colleague hit a resident"]).result(timeout=30)
    assert all("colleague" not in key for key in batcher._ready)  # keyed by a hash, not the text
    now[0] = 31.0
    assert batcher.take(["I saw a colleague hit a resident"]) is None
    batcher.close()


def test_an_encoder_failure_reaches_every_waiter():
    class Broken(FakeEmbedder):
        def encode(self, texts, progress=False):
            raise RuntimeError("no")

    batcher = EncodeBatcher(Broken())
    with pytest.raises(RuntimeError):
        batcher.submit(["a"]).result(timeout=30)
    batcher.close()


def test_a_prefetched_question_is_not_encoded_again_by_the_engine(fake_bot):
    class Counting(FakeEmbedder):
        calls: list[list[str]] = []

        def encode(self, texts, progress=False):
            Counting.calls.append(list(texts))
            return super().encode(texts)

    index = fake_bot.index
    index.query_encoder = Counting()
    question = "can I accept a friend request from a service user?"
    plain = fake_bot.ask(question, record_gap=False)
    Counting.calls.clear()
    index.prefetch(question).result(timeout=30)
    assert Counting.calls == [index.query_texts(question)]  # on the encoder thread
    prefetched = fake_bot.ask(question, record_gap=False)
    assert Counting.calls == [index.query_texts(question)]  # the engine took the vectors
    assert [q.clause_id for q in prefetched.quotes] == [q.clause_id for q in plain.quotes]
    assert index.prefetch("   ") is None


def test_prefetch_does_not_wait_for_an_index_build(fake_bot):
    """The server calls ``prefetch`` on its event loop: a refresh holding the build lock (embedding a new
    upload can take seconds) must not hold up every incoming message."""
    index = fake_bot.index
    returned = threading.Event()

    def call():
        index.prefetch("can I accept a friend request?")
        returned.set()

    with index._build_lock:  # as during refresh()
        caller = threading.Thread(target=call, daemon=True)
        caller.start()
        assert returned.wait(10)
