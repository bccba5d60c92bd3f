"""DKIM keys of accounts and of the platform, and signing of outgoing mail; `dkim_verification` checks signatures in the sink.

dkimpy 1.1.8 parses the message, canonicalizes it and selects the signed
headers. The private-key step runs in OpenSSL through `cryptography`, with
each parsed key kept in memory: dkimpy's own `DKIM.sign` parses the PEM
and computes the RSA signature (`RSASSA_PKCS1_v1_5_sign` in dkim/crypto.py)
in pure Python on every call, which is many times slower.
"""

import base64
import hashlib
import logging
import time
from email.utils import parseaddr
from functools import lru_cache

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa, utils
from dkim.canonicalization import CanonicalizationPolicy
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction

from sending.dkim_canonicalization import canonicalize_body
from sending.models import DkimKey

logger = logging.getLogger(__name__)

Algorithm = DkimKey.Algorithm

CANONICALIZATION = b"relaxed/relaxed"
# Headers signed when present, as RFC 6376 section 5.4.1 recommends, plus
# the unsubscribe headers that RFC 8058 requires to be covered.
SIGNED_HEADERS = (
    b"from", b"sender", b"reply-to", b"subject", b"date", b"message-id", b"to", b"cc", b"mime-version",
    b"content-type", b"content-transfer-encoding", b"list-unsubscribe", b"list-unsubscribe-post",
    b"x-mailup-ver", b"x-abuse",
)  # fmt: skip
RSA_KEY_BITS = 2048
# Selector prefix of the platform's own keys. Account selectors are
# mu<console id> and a console id is a number, so the two never collide.
PLATFORM_SELECTOR_PREFIX = "muplatform"


# --- Keys ---------------------------------------------------------------------


def account_keys(account):
    """Return the account's DKIM keys, RSA first, creating the missing ones on first use."""
    return _keys_of(account, f"mu{account.console_id}")


def platform_keys():
    """Return the platform's own DKIM keys, RSA first, creating the missing ones on first use.

    They sign the mail the platform sends for itself (the trial activation
    link), for the domain that `platform_domain` returns.
    """
    return _keys_of(None, PLATFORM_SELECTOR_PREFIX)


def platform_domain():
    """Return the lower-case domain of PLATFORM_MAIL_FROM, the d= of the platform's signatures.

    Raises ImproperlyConfigured when the setting has no address with a domain.
    """
    address = parseaddr(settings.PLATFORM_MAIL_FROM)[1]
    domain = address.rpartition("@")[2].lower() if "@" in address else ""
    if not domain:
        raise ImproperlyConfigured(f"PLATFORM_MAIL_FROM has no e-mail address with a domain: {settings.PLATFORM_MAIL_FROM!r}")
    return domain


def _keys_of(account, selector_prefix):
    # Django turns account=None into IS NULL, which selects the platform's keys.
    keys = {key.algorithm: key for key in DkimKey.objects.filter(account=account)}
    for algorithm in (Algorithm.RSA_SHA256, Algorithm.ED25519_SHA256):
        if algorithm not in keys:
            keys[algorithm] = _create_key(account, algorithm, selector_prefix)
    return [keys[Algorithm.RSA_SHA256], keys[Algorithm.ED25519_SHA256]]


def _create_key(account, algorithm, selector_prefix):
    private_pem, public_value = _generate(algorithm)
    suffix = "r" if algorithm == Algorithm.RSA_SHA256 else "e"
    try:
        with transaction.atomic():
            key = DkimKey.objects.create(
                account=account,
                algorithm=algorithm,
                selector=f"{selector_prefix}{suffix}",
                private_key=private_pem,
                public_key=public_value,
            )
    except IntegrityError:
        # Another process created the key between our read and this insert,
        # so a unique constraint of DkimKey rejected ours.
        return DkimKey.objects.get(account=account, algorithm=algorithm)
    owner = account.console_id if account is not None else "platform"
    logger.info("dkim key created account=%s algorithm=%s selector=%s", owner, algorithm, key.selector)
    return key


def _generate(algorithm):
    """Return (PKCS#8 PEM of a new private key, base64 public value for the p= tag)."""
    if algorithm == Algorithm.RSA_SHA256:
        private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
        public = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    else:
        # RFC 8463: the p= value of an Ed25519 key is the raw 32-byte key.
        private = ed25519.Ed25519PrivateKey.generate()
        public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem.decode("ascii"), base64.b64encode(public).decode("ascii")


def dns_record(key):
    """Return the TXT record text that publishes `key`."""
    return f"v=DKIM1; k={key.key_type}; p={key.public_key}"


@lru_cache(maxsize=256)
def _load_private_key(pem):
    # Keyed by the PEM text itself, because a primary key can be reused
    # after rows are deleted (tests, a reset demo console).
    return serialization.load_pem_private_key(pem.encode("ascii"), password=None)


# --- Signing ----------------------------------------------------------------


def sign(raw, domain, keys):
    """Return `raw` with one DKIM-Signature header per key prepended, the first key's on top.

    `raw` is a whole message with CRLF line ends; `domain` becomes d=.
    """
    parsed = dkim.DKIM(raw)
    policy = CanonicalizationPolicy.from_c_value(CANONICALIZATION)
    body_hash = base64.b64encode(hashlib.sha256(canonicalize_body(policy, parsed.body)).digest())
    present = {name.lower() for name, _value in parsed.headers}
    included = [name for name in SIGNED_HEADERS if name in present]
    # Every signature covers the same header fields, so they are chosen
    # (the last instance of each name, RFC 6376 section 5.4.2) only once.
    signed_fields = dkim.select_headers(policy.canonicalize_headers(parsed.headers), included)

    signatures = [
        _signature_header(key, domain.encode("ascii"), included, body_hash, policy, signed_fields)
        for key in keys
    ]
    return b"".join(signatures) + raw


def _signature_header(key, domain, included, body_hash, policy, signed_fields):
    atoms = [
        b"v=1;",
        b"a=" + key.algorithm.encode("ascii") + b";",
        b"c=" + CANONICALIZATION + b";",
        b"d=" + domain + b";",
        b"s=" + key.selector.encode("ascii") + b";",
        b"t=" + str(int(time.time())).encode("ascii") + b";",
        *_header_list_atoms(included),
        b"bh=" + body_hash + b";",
        b"b=",
    ]
    # The value is folded before b= gets its signature, so the text hashed
    # here is exactly what a verifier hashes once it empties b=.
    unsigned = _fold(atoms)
    hasher = hashlib.sha256()
    for name, value in signed_fields:
        hasher.update(name + b":" + value)
    # The signature's own header is hashed last, canonicalized, with b=
    # empty and without its final line break (RFC 6376 section 3.7).
    [(name, value)] = policy.canonicalize_headers([(b"DKIM-Signature", unsigned)])
    hasher.update(name + b":" + value.rstrip())

    signature = base64.b64encode(_sign_digest(key, hasher.digest()))
    chunks = [signature[start : start + 70] for start in range(0, len(signature), 70)]
    return b"DKIM-Signature:" + unsigned + b"".join(b"\r\n " + chunk for chunk in chunks) + b"\r\n"


def _header_list_atoms(included):
    """Split h= into one atom per header name, because RFC 6376 allows folding only around its colons."""
    names = list(included)
    if len(names) == 1:
        return [b"h=" + names[0] + b";"]
    return [b"h=" + names[0] + b":"] + [name + b":" for name in names[1:-1]] + [names[-1] + b";"]


def _fold(atoms):
    """Join atoms with spaces, starting a new line before an atom that would pass column 76."""
    lines = [b"DKIM-Signature:"]
    for atom in atoms:
        if len(lines[-1]) + 1 + len(atom) > 76:
            lines.append(b"")
        lines[-1] += b" " + atom
    return b"\r\n".join(lines)[len(b"DKIM-Signature:") :]


def _sign_digest(key, digest):
    private = _load_private_key(key.private_key)
    if key.algorithm == Algorithm.RSA_SHA256:
        return private.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    # RFC 8463 section 3: Ed25519 signs the SHA-256 hash of the headers.
    return private.sign(digest)
