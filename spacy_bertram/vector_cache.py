"""The `bertram` component's cache of word vectors, each valid for the contexts it came from."""
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple

import numpy

# Most words whose vectors stay cached; the least recently used go first.
CACHE_SIZE = 100_000


class VectorCache:
    """Word -> vector, valid while the word's contexts stay the same; LRU-bounded.

    A vector is keyed by a fingerprint of the contexts it was inferred from, so a
    word whose contexts change is recomputed. The cache pickles empty.
    """

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._entries: "OrderedDict[str, Tuple[int, numpy.ndarray]]" = OrderedDict()

    def get(self, word: str, contexts: Sequence[str]) -> Optional[numpy.ndarray]:
        """The cached vector of the word for exactly these contexts, else None."""
        entry = self._entries.get(word)
        if entry is None or entry[0] != _fingerprint(contexts):
            return None
        self._entries.move_to_end(word)
        return entry[1]

    def put(self, word: str, contexts: Sequence[str], vector: numpy.ndarray) -> None:
        """Cache the vector inferred from these contexts, dropping the oldest if full."""
        self._entries[word] = (_fingerprint(contexts), vector)
        self._entries.move_to_end(word)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __getstate__(self) -> Dict[str, int]:
        return {"size": self.size}

    def __setstate__(self, state: Dict[str, int]) -> None:
        self.__init__(state["size"])


def _fingerprint(contexts: Sequence[str]) -> int:
    return hash(tuple(contexts))
