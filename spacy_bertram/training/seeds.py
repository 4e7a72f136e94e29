"""Named seed streams: independent seeds derived from one run seed and a name.

Each random choice of a run (the word sample, the held-out split, a stage's batch
order, ...) draws from its own stream, so adding or reordering one leaves the others
as they were, and two streams never share a seed by accident of arithmetic.
"""
import hashlib


class SeedStreams:
    """`seeds("held-out")`: the seed of the stream named so, for the run seed `seed`."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def __call__(self, name: str) -> int:
        """A 63-bit seed, the same for the same run seed and name on every machine."""
        digest = hashlib.blake2b(f"{self.seed}\0{name}".encode("utf8"), digest_size=8).digest()
        return int.from_bytes(digest, "big") >> 1

    def child(self, name: str) -> "SeedStreams":
        """The streams of a part of the run (a stage), seeded by this one's `name` stream."""
        return SeedStreams(self(name))
