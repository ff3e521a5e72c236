"""PIN hashing with scrypt (a slow, memory-hard KDF from the standard library).

Format: ``scrypt$N$r$p$<salt base64>$<hash base64>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

N, R, P = 2**14, 8, 1
DKLEN = 32
#: the digest lengths a configured hash may have (check_format)
MIN_DKLEN, MAX_DKLEN = 16, 64


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.scrypt(pin.encode("utf-8"), salt=salt, n=N, r=R, p=P, dklen=DKLEN)
    return "$".join(
        [
            "scrypt",
            str(N),
            str(R),
            str(P),
            base64.b64encode(salt).decode(),
            base64.b64encode(digest).decode(),
        ]
    )


def check_format(encoded: str) -> None:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("expected scrypt$N$r$p$salt$hash")
    n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
    if n < 2**12 or n & (n - 1) or not 1 <= r <= 32 or not 1 <= p <= 16:
        raise ValueError("scrypt parameters out of range")
    base64.b64decode(parts[4], validate=True)
    digest = base64.b64decode(parts[5], validate=True)
    # verify_pin derives as many bytes as the digest has: an empty or cut one (a hash
    # pasted incompletely) lets the operator never log in, or lets a wrong PIN match by
    # chance; a huge one makes every log-in derive that much
    if not MIN_DKLEN <= len(digest) <= MAX_DKLEN:
        raise ValueError(
            f"the hash part is {len(digest)} bytes, expected {MIN_DKLEN} to {MAX_DKLEN}"
            " (posctl operator hash-pin makes 32)"
        )


def verify_pin(pin: str, encoded: str) -> bool:
    try:
        _, n, r, p, salt64, hash64 = encoded.split("$")
        salt = base64.b64decode(salt64)
        expected = base64.b64decode(hash64)
        digest = hashlib.scrypt(
            pin.encode("utf-8"), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected) or 32
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, expected)
