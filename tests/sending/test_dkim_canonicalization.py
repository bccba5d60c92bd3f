"""DKIM body canonicalization: the fast relaxed form gives dkimpy's bytes."""

import random

import pytest
from dkim.canonicalization import CanonicalizationPolicy

from sending.dkim_canonicalization import canonicalize_body

BODIES = [
    b"",
    b"\r\n",
    b"\r\n\r\n\r\n",
    b"one line without an end",
    b"a lone space and  two\tand \t mixed \r\n",
    b"\tleading tab\r\n   leading spaces\r\ntrailing \t \r\n\r\n\r\n",
    b"<p>Le novit\xc3\xa0 di dicembre:  <a href='x'>offerte</a>,\t\tspedizione</p>\r\n" * 3,
    b" \r\n \t\r\n",
    b"bare\nline feeds \n stay\n",
]


@pytest.mark.parametrize("c_value", [b"relaxed/relaxed", b"relaxed/simple"])
@pytest.mark.parametrize("body", BODIES)
def test_body_matches_dkimpy(c_value, body):
    policy = CanonicalizationPolicy.from_c_value(c_value)

    assert canonicalize_body(policy, body) == policy.canonicalize_body(body)


def test_random_bodies_match_dkimpy():
    policy = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
    generator = random.Random(6376)
    pieces = [b" ", b"\t", b"\r\n", b"\n", b"a", b"b", b"  ", b" \t"]

    for _ in range(2000):
        body = b"".join(generator.choice(pieces) for _ in range(generator.randint(0, 30)))
        assert canonicalize_body(policy, body) == policy.canonicalize_body(body), body
