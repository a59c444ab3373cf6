"""Deterministic file contents for the benchmark dataset: bytes from a seeded RNG.

Each maker takes a `random.Random` and a size and returns (or yields) bytes; the same RNG
state always gives the same bytes, on any machine and Python 3 version. The kinds imitate
what a research bulk store holds, with the compressibility that matters to a backup tool:

- paper records: JSON lines of metadata and markdown-like prose (lz4 about 2.5x),
- metric logs: JSON lines of training metrics (lz4 about 6x); mixed with papers the
  JSON-lines part of the dataset compresses about 3-3.5x with lz4,
- embeddings: `.npy` files of float32 values, which neither lz4 nor gzip shrink,
- code: Python-like modules, markdown and config files of a few KiB,
- noise: opaque bytes for the `.git`, `__pycache__` and `.tmp` entries every tool skips.

Only the standard library is used, and only fast paths of it (`randbytes`, `choices`,
`str.join`), so a 1.3 GB tree takes well under a minute to make.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass

# Yield text in pieces of about this size: big enough for few writes, small enough
# to keep memory flat while making a 50 MB file.
_PIECE = 1 << 20

_SYLLABLES = (
    "ka", "to", "ri", "ne", "mo", "la", "si", "pe", "du", "an", "er", "in", "or", "el",
    "us", "qu", "ex", "th", "st", "ch", "ion", "ent", "al", "ic", "ar", "ve", "ro", "ma",
)  # fmt: skip
_CATEGORIES = ("cs.LG", "cs.CL", "stat.ML", "cs.CV", "cs.AI", "math.OC", "q-bio.NC", "cs.IR")


@dataclass(frozen=True)
class TextModel:
    """The vocabulary and sentence pools that prose is drawn from."""

    words: tuple[str, ...]
    identifiers: tuple[str, ...]  # the commonest words, for names in code
    cum_weights: tuple[float, ...]  # Zipf-like, so a few words are very common
    common: tuple[str, ...]  # boilerplate sentences; small enough to sit in lz4's 64 KiB window
    rare: tuple[str, ...]  # sentences that seldom repeat within a window


# Share of prose sentences drawn from the common pool. Tuned so that paper records
# compress about 2.5x with lz4 and 4x with gzip, like real metadata plus markdown.
_COMMON_SHARE = 0.6


@functools.cache
def text_model(seed: int) -> TextModel:
    """Build (once per process and seed) the word list and sentence pools."""
    rng = random.Random(f"{seed}/text-model")
    words = sorted(
        {"".join(rng.choices(_SYLLABLES, k=rng.choice((1, 2, 2, 3, 3, 4)))) for _ in range(6000)}
    )
    cum = tuple(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(words))))

    def sentence() -> str:
        picked = rng.choices(words, cum_weights=cum, k=rng.randint(6, 22))
        return " ".join(picked).capitalize() + "."

    common = tuple(sentence() for _ in range(300))
    rare = tuple(sentence() for _ in range(20000))
    return TextModel(tuple(words), tuple(words[:1500]), cum, common, rare)


def _paragraph(rng: random.Random, model: TextModel, sentences: int) -> str:
    n_common = sum(1 for _ in range(sentences) if rng.random() < _COMMON_SHARE)
    picked = rng.choices(model.common, k=n_common) + rng.choices(model.rare, k=sentences - n_common)
    rng.shuffle(picked)
    return " ".join(picked)


def _name(rng: random.Random, model: TextModel) -> str:
    return f"{rng.choice(model.words).capitalize()} {rng.choice(model.words).capitalize()}"


def paper_lines(
    rng: random.Random, model: TextModel, nbytes: int, first_id: int = 0
) -> Iterator[bytes]:
    """JSON lines of paper metadata with markdown bodies, about `nbytes` in total."""
    made = 0
    number = first_id
    while made < nbytes:
        lines: list[str] = []
        size = 0
        while size < _PIECE and made + size < nbytes:
            number += 1
            sections = (
                f"## {rng.choice(model.common)[:-1]}\n\n"
                + _paragraph(rng, model, rng.randint(3, 10))
                for _ in range(rng.randint(1, 3))
            )
            record = {
                "id": f"{2300 + number % 400}.{number:05d}",
                "title": rng.choice(model.rare)[:-1],
                "authors": [_name(rng, model) for _ in range(rng.randint(1, 5))],
                "year": rng.randint(2015, 2025),
                "categories": rng.sample(_CATEGORIES, k=2),
                "license": "http://creativecommons.org/licenses/by/4.0/",
                "abstract": _paragraph(rng, model, rng.randint(4, 9)),
                "body": "\n\n".join(sections),
                "score": round(rng.random(), 4),
                "n_citations": rng.randint(0, 500),
            }
            line = json.dumps(record) + "\n"
            lines.append(line)
            size += len(line)
        made += size
        yield "".join(lines).encode()


def metric_lines(rng: random.Random, nbytes: int, run: int, first_step: int = 0) -> Iterator[bytes]:
    """JSON lines of a training log (loss curve, learning rate, throughput), about `nbytes`."""
    made = 0
    step = first_step
    decay = rng.uniform(20000, 60000)
    while made < nbytes:
        lines: list[str] = []
        size = 0
        while size < _PIECE and made + size < nbytes:
            step += 1
            loss = 2.5 * math.exp(-step / decay) + 0.3 + rng.gauss(0, 0.02)
            lr = 3e-4 * min(1.0, step / 2000)
            # Hand-built rather than json.dumps: twice as fast, and the fields are plain numbers.
            line = (
                f'{{"run": "exp-{run:03d}", "step": {step}, "epoch": {step // 5000}, '
                f'"time": "2024-03-{1 + step // 86400 % 28:02d}T{step // 3600 % 24:02d}:'
                f'{step // 60 % 60:02d}:{step % 60:02d}Z", "metrics": {{"train/loss": {loss:.4f}, '
                f'"train/acc": {1 - loss / 3:.4f}, "lr": {lr:.3e}, '
                f'"grad_norm": {rng.lognormvariate(0, 0.3):.3f}, '
                f'"throughput": {1200 + rng.randint(-50, 50)}, '
                f'"gpu_mem_gb": {38.2 + rng.randint(0, 9) / 10:.1f}}}, "status": "ok", '
                f'"host": "node{rng.randint(1, 8):02d}"}}\n'
            )
            lines.append(line)
            size += len(line)
        made += size
        yield "".join(lines).encode()


# Maps a random byte to the top byte of a float32 in +-[2**-7, 2): keeps the sign bit, puts
# the exponent where unit-norm embedding components live. Real embeddings look like this
# to a compressor: lz4 finds nothing, gzip about 5%.
_FLOAT_TOP_BYTE = bytes((0x3C + (b & 3)) | (b & 0x80) for b in range(256))


def float32_bytes(rng: random.Random, nbytes: int) -> bytes:
    """`nbytes` (a multiple of 4) of little-endian float32 values of embedding magnitude."""
    data = bytearray(rng.randbytes(nbytes))
    data[3::4] = data[3::4].translate(_FLOAT_TOP_BYTE)
    return bytes(data)


def npy_header(rows: int, dim: int) -> bytes:
    """A NumPy format 1.0 header for a C-ordered float32 array of shape (rows, dim)."""
    text = f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {dim}), }}"
    # magic (6) + version (2) + length (2) + text + padding + newline is a multiple of 64.
    padding = -(10 + len(text) + 1) % 64
    body = text.encode() + b" " * padding + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body


def npy_file(rng: random.Random, rows: int, dim: int) -> Iterator[bytes]:
    """A whole `.npy` embeddings file, in pieces of about 8 MiB."""
    yield npy_header(rows, dim)
    row_bytes = 4 * dim
    per_piece = max(1, (8 << 20) // row_bytes)
    for start in range(0, rows, per_piece):
        yield float32_bytes(rng, row_bytes * min(per_piece, rows - start))


def _identifier(rng: random.Random, model: TextModel, parts: int = 2) -> str:
    return "_".join(rng.choice(model.identifiers) for _ in range(parts))


def _python_block(rng: random.Random, model: TextModel) -> str:
    name = _identifier(rng, model)
    cls = "".join(w.capitalize() for w in _identifier(rng, model).split("_"))
    a, b, i = _identifier(rng, model, 1), _identifier(rng, model, 1), rng.choice("ijkn")
    n1, n2, n3 = rng.randint(2, 999), rng.randint(2, 99), rng.randint(1, 9999)
    doc = rng.choice(model.common)
    if rng.random() < 0.3:
        return (
            f'\n\nclass {cls}:\n    """{doc}"""\n\n'
            f'    def __init__(self, {a}: int, {b}: str = "{rng.choice(model.words)}") -> None:\n'
            f"        self.{a} = {a}\n        self.{b} = {b}\n\n"
            f"    def {name}(self) -> int:\n"
            f"        return self.{a} * {n1} + len(self.{b})\n"
        )
    return (
        f'\n\ndef {name}({a}: int, {b}: int = {n2}) -> int:\n    """{doc}"""\n'
        f"    total = 0\n    for {i} in range({a}):\n"
        f"        if {i} % {b} == 0:\n            total += {i} * {n1}\n"
        f"        else:\n            total -= {n3}\n    return total\n"
    )


def code_file(rng: random.Random, model: TextModel, size: int, suffix: str) -> bytes:
    """A code-like text file of exactly `size` bytes: `.py`, `.md`, `.json` or `.sh`."""
    if suffix == ".md":
        parts = [f"# {rng.choice(model.rare)[:-1]}\n"]
        parts.extend(
            f"\n{_paragraph(rng, model, rng.randint(2, 6))}\n" for _ in range(size // 300 + 1)
        )
    elif suffix == ".json":
        config = {
            _identifier(rng, model): rng.choice(
                [rng.randint(0, 10**6), rng.random(), rng.choice(model.words)]
            )
            for _ in range(size // 25 + 1)
        }
        parts = [json.dumps(config, indent=2)]
    elif suffix == ".sh":
        parts = ["#!/bin/sh\nset -eu\n"]
        parts.extend(
            f"python -m {_identifier(rng, model)} --{rng.choice(model.words)} "
            f"{rng.randint(1, 64)}\n"
            for _ in range(size // 40 + 1)
        )
    else:
        parts = [
            f'"""{rng.choice(model.rare)}"""\n\nfrom __future__ import annotations\n\nimport os\n'
        ]
        made = len(parts[0])
        while made < size:
            parts.append(_python_block(rng, model))
            made += len(parts[-1])
    text = "".join(parts).encode()
    while len(text) < size:  # only the shortest templates can come up short
        text += text
    return text[:size]
