"""Password hashing with argon2id, off the event loop.

Parameters are chosen, not defaulted: OWASP's minimum for argon2id (t=2, m=19 MiB,
p=1) costs ~55 ms here, while the library default (~250 ms) stalls sign-in under load.
"""

from __future__ import annotations

import anyio.to_thread
from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class PasswordHasher:
    def __init__(self, *, time_cost: int = 2, memory_kib: int = 19 * 1024) -> None:
        self._argon2 = _Argon2(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        self._dummy = self._argon2.hash("timing-equaliser")

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._argon2.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Check ``password``; with no hash (unknown user) spend the same time and fail."""
        return await anyio.to_thread.run_sync(self._verify, password_hash, password)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            self._argon2.verify(password_hash or self._dummy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return password_hash is not None
