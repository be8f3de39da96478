"""A count of XLA compilations in this process (JAX's backend-compile monitoring event), for
`/stats` and the compile-stability test: after warm-up a server in steady state compiles
nothing, and a count that keeps rising under load means some shape is not bucketed."""

from __future__ import annotations

import dataclasses
import threading

import jax

_EVENT = "/jax/core/compile/backend_compile_duration"


@dataclasses.dataclass
class CompileCounter:
    count: int = 0
    seconds: float = 0.0

    def snapshot(self) -> dict:
        return {"count": self.count, "seconds": round(self.seconds, 3)}


_counter: CompileCounter | None = None
_lock = threading.Lock()


def compile_counter() -> CompileCounter:
    """The process-wide counter, listening from its first use on."""
    global _counter
    with _lock:
        if _counter is None:
            counter = CompileCounter()

            def listen(event: str, duration: float, **_) -> None:
                if event == _EVENT:
                    counter.count += 1
                    counter.seconds += duration

            jax.monitoring.register_event_duration_secs_listener(listen)
            _counter = counter
        return _counter
