"""The fast canonical form agrees with the full RFC 8785 implementation on our documents."""

from __future__ import annotations

import random
import string

import pytest
import rfc8785

from gateway.audit.rfc8785 import canonical_bytes, parse_canonical

ALPHABET = string.printable + 'äöüßÄ€😀\u2028\u0000\u001f\u007f"\\/'


def _document(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(7 if depth < 3 else 4)
    if kind == 0:
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(12)))
    if kind == 1:
        return rng.randint(-(2**53) + 1, 2**53 - 1)
    if kind == 2:
        return rng.choice([True, False, None])
    if kind == 3:
        return rng.randint(-1000, 1000)
    if kind in {4, 5}:
        keys = [
            "".join(rng.choice(string.ascii_letters + "_") for _ in range(rng.randrange(1, 8)))
            for _ in range(rng.randrange(5))
        ]
        return {key: _document(rng, depth + 1) for key in keys}
    return [_document(rng, depth + 1) for _ in range(rng.randrange(4))]


@pytest.mark.parametrize("seed", range(200))
def test_fast_path_matches_the_full_implementation(seed: int) -> None:
    document = {"root": _document(random.Random(seed))}
    expected = rfc8785.dumps(document)
    assert canonical_bytes(document) == expected
    parsed, canonical = parse_canonical(expected.decode("utf-8"))
    assert parsed == document
    assert canonical == expected


@pytest.mark.parametrize("document", [{"n": 1.5}, {"ä": 1}, {"n": 1e21}, {"n": -0.0}])
def test_outside_the_subset_the_full_implementation_decides(document: dict[str, object]) -> None:
    assert canonical_bytes(document) == rfc8785.dumps(document)
    text = rfc8785.dumps(document).decode()
    assert parse_canonical(text)[1] == rfc8785.dumps(document)


def test_non_canonical_text_is_told_apart() -> None:
    parsed, canonical = parse_canonical('{"b": 1, "a": 2}')
    assert canonical == b'{"a":2,"b":1}'
    assert parsed == {"a": 2, "b": 1}


def test_the_batch_parser_accepts_only_canonical_texts() -> None:
    from gateway.audit.rfc8785 import canonical_bytes, parse_canonical_batch

    documents = [{"seq": n, "b": [1, "x"], "a": {"z": None, "y": True}} for n in range(3)]
    texts = [canonical_bytes(document).decode() for document in documents]
    assert parse_canonical_batch(texts) == documents
    for bad in ('{"seq":1, "a":1}', '{"b":1,"a":2}', ' {"a":1}', '{"a":1,"a":1}', '{"a":"ä"}'):
        assert parse_canonical_batch([texts[0], bad]) is None
    # Two texts that only together form one value are not two canonical documents.
    assert parse_canonical_batch(['{"a":"', '"}', '{"b":1}']) is None
    assert parse_canonical_batch(['{"a":2}', '{"big":9007199254740993}']) is None
    # orjson and RFC 8785 write numbers with a fraction or exponent differently:
    # such a document always goes to the full implementation.
    for number in ("1.0", "5.0", "1e+21", "0.5"):
        assert parse_canonical_batch([texts[0], '{"seq":' + number + "}"]) is None
    assert parse_canonical('{"seq":1.0}')[1] == b'{"seq":1}'  # so the slow path tells it apart
