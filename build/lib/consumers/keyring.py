"""The producer keys as the consumer checks them, kept in memory between batches.

Loaded at start, again when a record names a key not yet known (a key created a moment ago works at
once), and every minute, so that a revoked key is refused within a minute on every replica.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.producer_keys import ProducerKey, load
from alerting.storage.engine import reading

REFRESH_S = 60.0


class Keyring:
    def __init__(
        self,
        engine: AsyncEngine,
        kek: bytes,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._kek = kek
        self._monotonic = monotonic
        self._keys: dict[str, ProducerKey] = {}
        self._loaded_at: float | None = None

    @property
    def keys(self) -> dict[str, ProducerKey]:
        return self._keys

    async def ensure(self, key_ids: Iterable[str]) -> None:
        """Reload if stale or if one of `key_ids` is unknown: at most one query per batch, so a flood
        of records under made-up key ids costs little."""
        now = self._monotonic()
        stale = self._loaded_at is None or now - self._loaded_at >= REFRESH_S
        if stale or any(key_id not in self._keys for key_id in key_ids):
            async with reading(self._engine) as conn:
                self._keys = await load(conn, self._kek)
            self._loaded_at = now
