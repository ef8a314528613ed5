"""Decode and transform a source's images on every core, with bounded memory.

The main process reads payloads (archives are read sequentially there; folder files are read by
the workers) and hands them out in chunks to a process pool, keeping only a few chunks in flight.
Results come back as they finish; the caller places each by its position, so the order they
arrive in does not matter. Workers ignore Ctrl-C (the main process alone decides to stop) and
load the face cascade once.

Workers are forked where the platform can (as PyTorch's DataLoader does): a spawned worker must
import ``ganvas.data`` afresh, which imports torch, and costs seconds per worker. They are all
started before the progress bar starts its monitor thread, and they never touch torch.
"""

from __future__ import annotations

import multiprocessing
import signal
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Iterator, Sequence

from ganvas.data.options import PrepareOptions
from ganvas.data.sources import Entry, Payload, Source
from ganvas.data.transforms import ItemResult, Transformer

CHUNK = 32  # images per task: large enough to amortise the IPC, small enough to balance load
IN_FLIGHT_PER_WORKER = 3

_worker: Transformer | None = None

Chunk = list[tuple[int, Payload]]


def _init_worker(options: PrepareOptions) -> None:
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker = Transformer(options)


def _ready() -> bool:
    return _worker is not None


def _process_chunk(chunk: Chunk) -> list[ItemResult]:
    assert _worker is not None, "worker not initialised"
    return [_worker(pos, data) for pos, data in chunk]


def _chunks(source: Source, entries: Sequence[Entry], positions: Sequence[int]
            ) -> Iterator[Chunk]:
    subset = [entries[p] for p in positions]
    chunk: Chunk = []
    for i, data in source.read(subset):
        chunk.append((positions[i], data))
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class TransformPool:
    """Context manager: ``run(source, entries, positions)`` yields one result per position.

    With one worker everything runs in this process (simplest to debug and to test)."""

    def __init__(self, options: PrepareOptions, workers: int) -> None:
        self.options = options
        self.workers = max(1, workers)
        self._local: Transformer | None = None
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> TransformPool:
        # built here even when workers do the work: option or OpenCV errors surface at once
        self._local = Transformer(self.options)
        if self.workers > 1:
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context(method),
                initializer=_init_worker, initargs=(self.options,))
            try:  # start every worker now, before other threads exist in this process
                for future in [self._pool.submit(_ready) for _ in range(self.workers)]:
                    future.result()
            except BaseException:
                self.__exit__()
                raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def run(self, source: Source, entries: Sequence[Entry], positions: Sequence[int]
            ) -> Iterator[ItemResult]:
        chunks = _chunks(source, entries, positions)
        if self._pool is None or len(positions) <= CHUNK:
            assert self._local is not None
            for chunk in chunks:
                for pos, data in chunk:
                    yield self._local(pos, data)
            return
        pending: set[Future] = set()
        try:
            for chunk in chunks:
                pending.add(self._pool.submit(_process_chunk, chunk))
                if len(pending) >= IN_FLIGHT_PER_WORKER * self.workers:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield from future.result()
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield from future.result()
        finally:
            for future in pending:
                future.cancel()
