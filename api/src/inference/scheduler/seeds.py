"""Noise seeds: a request's seed (given or random) and the distinct, reproducible seed of each chunk.

``chunk_seed(request_seed, index)`` depends only on its arguments, so a request with a fixed seed
speaks the same audio whatever ran beside it, and a caller that skips chunks (served from a cache)
keeps the others' seeds by passing their positions.
"""
import secrets

_SEED_MASK = 2**63 - 1
_GOLDEN = 0x9E3779B97F4A7C15


def chunk_seed(request_seed: int, index: int) -> int:
    """A distinct, reproducible seed for each chunk of a request."""
    return (request_seed + index * _GOLDEN) & _SEED_MASK


def new_seed() -> int:
    """A random request seed (63 bits), for requests that bring none."""
    return secrets.randbits(63)
