"""Untrusted bodies: every malformed JSON or form body is a BadPayload with a 4xx status, never another error."""

import pytest

from adapters.payloads import BadPayload, parse_form, parse_json, parse_json_object


@pytest.mark.parametrize(
    "raw, status",
    [
        (b"[" * 5000, 400),  # RecursionError in json.loads without the depth check
        (b'{"a":' * 5000, 400),
        (b"{bad", 400),
        (b"\xff\xfe\x00", 400),  # not UTF-8
        (b"1" * 5000, 400),  # int() refuses numbers longer than 4300 digits
        (b"", 400),
        (b'{"text": "\\ud800"}', 400),  # a lone surrogate: parses, but no UTF-8 encoder downstream accepts it
    ],
)
def test_malformed_json_is_a_bad_payload(raw, status):
    with pytest.raises(BadPayload) as err:
        parse_json(raw)
    assert err.value.status == status


@pytest.mark.parametrize("charset", ["x-nope", "é", "a\x00b", "", "utf-8\udcff", "x" * 1000, "rot13", "base64"])
def test_unknown_or_odd_charsets_are_415(charset):
    with pytest.raises(BadPayload) as err:
        parse_json(b"{}", charset=charset)
    assert err.value.status == 415


def test_brackets_inside_strings_do_not_count_as_nesting():
    deep_text = {"text": "[" * 500 + '\\"' + "{" * 500}
    import json

    assert parse_json(json.dumps(deep_text).encode()) == deep_text
    assert parse_json(b"[" * 64 + b"]" * 64) is not None
    with pytest.raises(BadPayload):
        parse_json(b"[" * 65 + b"]" * 65)


def test_object_routes_refuse_other_values():
    assert parse_json_object(b'{"type": "message"}') == {"type": "message"}
    for raw in (b"[1]", b'"x"', b"null"):
        with pytest.raises(BadPayload):
            parse_json_object(raw)


def test_form_bodies():
    assert parse_form(b"payload=%7B%7D&x=1&x=2") == {"payload": "{}", "x": "1"}
    assert parse_form(b"payload=x") == {"payload": "x"}
    with pytest.raises(BadPayload):
        parse_form(b"a=\xff", charset="utf-8")


def test_surrogate_pairs_are_text():
    assert parse_json(b'{"text": "\\ud83d\\ude00"}') == {"text": "\U0001f600"}


def test_object_or_empty_is_lenient():
    from adapters.payloads import object_or_empty

    assert object_or_empty('{"q": "x", "c": ["a"]}') == {"q": "x", "c": ["a"]}
    for bad in (None, "", "[1]", "{bad", "[" * 5000, 5, '"x"'):
        assert object_or_empty(bad) == {}
