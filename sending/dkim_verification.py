"""Verification of DKIM signatures in the sink (RFC 6376, and RFC 8463 for Ed25519).

dkimpy 1.1.8 parses the message and the tag lists, checks the signature's
tags and canonicalizes. The public-key step runs in OpenSSL through
`cryptography`, with each parsed key kept in memory. dkimpy's own
`DKIM.verify` parses the key record and computes the RSA operation in pure
Python for every signature, and canonicalizes the body again for each
signature of the same message, which cost the sink more than storing the
message did.
"""

import base64
import binascii
import hashlib
import re
from functools import lru_cache

import dkim
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa, utils
from dkim.canonicalization import CanonicalizationPolicy, InvalidCanonicalizationPolicyError
from dkim.crypto import UnparsableKeyError, parse_public_key
from dkim.util import InvalidTagValueList, parse_tag_value

from sending.dkim_canonicalization import canonicalize_body

# Smaller RSA keys are rejected, as dkimpy does by default.
MIN_RSA_KEY_BITS = 1024
# Key type (k= of the key record) that each accepted algorithm needs.
# RFC 8301 forbids accepting rsa-sha1 signatures.
KEY_TYPES = {b"rsa-sha256": b"rsa", b"ed25519-sha256": b"ed25519"}
SIGNATURE_HEADER = b"dkim-signature"
WHITESPACE = re.compile(rb"\s+")


class VerificationError(dkim.DKIMException):
    """A signature that cannot verify, with the reason as its message."""


def verify(raw, resolve_txt):
    """Check every DKIM-Signature of a message.

    `resolve_txt(name)` returns the TXT record text of a DNS name (bytes)
    or None. Returns (result, domain, reason, signatures): result is "pass"
    when any signature verifies, "fail" when none does, "none" when there
    is no signature. Domain and reason belong to the passing signature, or
    to the first failing one.
    """
    try:
        message = _Message(raw)
    except dkim.DKIMException as error:
        return "fail", "", f"unparsable message: {error}", []

    headers = [header for header in message.headers if header[0].lower() == SIGNATURE_HEADER]
    if not headers:
        return "none", "", "", []
    signatures = [_verify_one(message, header, resolve_txt) for header in headers]

    passed = [item for item in signatures if item["result"] == "pass"]
    chosen = passed[0] if passed else signatures[0]
    return chosen["result"], chosen["domain"], chosen["reason"], signatures


class _Message:
    """A parsed message with its canonical forms, computed once for all its signatures."""

    def __init__(self, raw):
        parsed = dkim.DKIM(raw)
        self.headers = parsed.headers
        self.body = parsed.body
        self._bodies = {}
        self._header_lists = {}

    def canonical_body(self, policy, c_value):
        if c_value not in self._bodies:
            self._bodies[c_value] = canonicalize_body(policy, self.body)
        return self._bodies[c_value]

    def canonical_headers(self, policy, c_value):
        if c_value not in self._header_lists:
            self._header_lists[c_value] = policy.canonicalize_headers(self.headers)
        return self._header_lists[c_value]


def _verify_one(message, header, resolve_txt):
    outcome = {"domain": "", "selector": "", "algorithm": "", "result": "fail", "reason": ""}
    try:
        tags = parse_tag_value(header[1])
    except InvalidTagValueList as error:
        outcome["reason"] = f"invalid DKIM-Signature: {error}"
        return outcome
    for name, tag in (("domain", b"d"), ("selector", b"s"), ("algorithm", b"a")):
        outcome[name] = tags.get(tag, b"").decode("ascii", "replace")

    try:
        valid = _check_signature(message, header, tags, resolve_txt)
    except dkim.DKIMException as error:
        outcome["reason"] = str(error)
        return outcome
    if valid:
        outcome["result"] = "pass"
    else:
        outcome["reason"] = "signature did not verify"
    return outcome


def _check_signature(message, header, tags, resolve_txt):
    """Return whether the signature verifies; raise a DKIMException naming what is wrong otherwise."""
    dkim.validate_signature_fields(tags)
    algorithm = tags[b"a"]
    if algorithm not in KEY_TYPES:
        raise VerificationError(f"signature algorithm {algorithm.decode('ascii', 'replace')} is not accepted")
    key_type, key = _public_key(tags, resolve_txt)
    if key_type != KEY_TYPES[algorithm]:
        raise VerificationError(f"{key_type.decode('ascii')} key does not match a={algorithm.decode('ascii')}")

    c_value = tags.get(b"c", b"simple/simple")
    try:
        policy = CanonicalizationPolicy.from_c_value(c_value)
    except InvalidCanonicalizationPolicyError as error:
        raise VerificationError(f"invalid c= value: {error.args[0]}") from error
    _check_body_hash(message, tags, policy, c_value)
    digest = _header_hash(message, header, tags, policy, c_value)
    return _signature_matches(key_type, key, _decode_base64(tags[b"b"], "b="), digest)


def _public_key(tags, resolve_txt):
    name = tags[b"s"] + b"._domainkey." + tags[b"d"] + b"."
    record = resolve_txt(name)
    if record is None:
        raise VerificationError(f"no DKIM key published at {name.decode('ascii', 'replace')}")
    return _parse_key_record(bytes(record))


@lru_cache(maxsize=256)
def _parse_key_record(record):
    """Return (key type, public key object) of a key record (RFC 6376 section 3.6.1); cached by its text."""
    try:
        tags = parse_tag_value(record)
    except InvalidTagValueList as error:
        raise VerificationError(f"invalid key record: {error}") from error
    if tags.get(b"v", b"DKIM1") != b"DKIM1":
        raise VerificationError("key record version is not DKIM1")
    if tags.get(b"s", b"*") not in (b"*", b"email"):
        raise VerificationError("key record is not for e-mail")
    if not tags.get(b"p"):
        raise VerificationError("key revoked: the record's p= is empty")

    key_type = tags.get(b"k", b"rsa")
    data = _decode_base64(tags[b"p"], "p=")
    if key_type == b"ed25519":
        try:
            return key_type, ed25519.Ed25519PublicKey.from_public_bytes(data)
        except ValueError as error:
            raise VerificationError(f"could not parse Ed25519 public key: {error}") from error
    if key_type == b"rsa":
        return key_type, _rsa_key(data)
    raise VerificationError(f"unknown key type k={key_type.decode('ascii', 'replace')}")


def _rsa_key(data):
    """Load an RSA public key given as SubjectPublicKeyInfo or, as some records have it, bare PKCS#1."""
    try:
        key = serialization.load_der_public_key(data)
    except ValueError:
        try:
            numbers = parse_public_key(data)
        except (UnparsableKeyError, KeyError, TypeError, ValueError) as error:
            raise VerificationError(f"could not parse RSA public key: {error}") from error
        key = rsa.RSAPublicNumbers(numbers["publicExponent"], numbers["modulus"]).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise VerificationError("p= is not an RSA public key")
    if key.key_size < MIN_RSA_KEY_BITS:
        raise VerificationError(f"public key too small: {key.key_size}")
    return key


def _check_body_hash(message, tags, policy, c_value):
    body = message.canonical_body(policy, c_value)
    if b"l" in tags:
        body = body[: int(tags[b"l"])]
    body_hash = hashlib.sha256(body).digest()
    if body_hash != _decode_base64(tags[b"bh"], "bh="):
        raise VerificationError(
            f"body hash mismatch (got {base64.b64encode(body_hash).decode('ascii')}, expected {tags[b'bh'].decode('ascii', 'replace')})"
        )


def _header_hash(message, header, tags, policy, c_value):
    included = [name.lower() for name in re.split(rb"\s*:\s*", tags[b"h"])]
    if b"from" in included:
        # Hash any second From header too, as dkimpy does, so a message
        # with an added From header fails instead of showing either one.
        included.append(b"from")
    hasher = hashlib.sha256()
    dkim.hash_headers(hasher, policy, message.canonical_headers(policy, c_value), included, header, tags)
    return hasher.digest()


def _signature_matches(key_type, key, signature, digest):
    try:
        if key_type == b"rsa":
            key.verify(signature, digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        else:
            # RFC 8463 section 3: Ed25519 signs the SHA-256 hash of the headers.
            key.verify(signature, digest)
    except InvalidSignature:
        return False
    return True


def _decode_base64(value, tag):
    try:
        return base64.b64decode(WHITESPACE.sub(b"", value), validate=True)
    except (binascii.Error, ValueError) as error:
        raise VerificationError(f"invalid base64 in {tag}") from error
