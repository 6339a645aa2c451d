"""Password hashing (argon2 through pwdlib) and the temporary passwords an admin hands out."""

from __future__ import annotations

import asyncio
import secrets

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from alerting.errors import ConflictError

_HASHER = PasswordHash((Argon2Hasher(),))
# Checked against when the username is unknown, so that an unknown name costs as long as a known one.
_DUMMY = _HASHER.hash("no such user: a password nobody has")
# No 0/O, 1/l/I: a temporary password is read aloud or copied from a screen.
_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
MIN_LENGTH = 8
MAX_LENGTH = 128


def temporary() -> str:
    """A random temporary password, e.g. ``Kq7m-Xw3e-Pz9a`` (about 70 bits)."""
    return "-".join("".join(secrets.choice(_ALPHABET) for _ in range(4)) for _ in range(3))


def check_new(password: str, username: str) -> None:
    """Refuse a password a person chooses that is too short, too long or their username."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise ConflictError(
            f"密码长度须为 {MIN_LENGTH}～{MAX_LENGTH} 个字符 / "
            f"a password has {MIN_LENGTH} to {MAX_LENGTH} characters"
        )
    if password.strip().casefold() == username.casefold():
        raise ConflictError("密码不能与用户名相同 / the password must not be the username")


async def hash_password(password: str) -> str:
    # About 0.1 s of CPU: off the event loop, which serves everyone else meanwhile.
    return await asyncio.to_thread(_HASHER.hash, password)


async def verify(password: str, hashed: str | None) -> tuple[bool, str | None]:
    """(whether it matches, a new hash when the stored one uses outdated parameters)."""
    if hashed is None:
        await asyncio.to_thread(_HASHER.verify, password, _DUMMY)
        return False, None
    return await asyncio.to_thread(_HASHER.verify_and_update, password, hashed)
