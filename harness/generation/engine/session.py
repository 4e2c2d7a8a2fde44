"""A backend ``Session`` on the slot engine: the host side of the decode loop.

``step`` runs ``sync_every`` device steps without looking, then reads back only the slots that
ended (and, when stop strings are configured, every live slot's new tokens, which only the
tokenizer can check). Finish times are therefore taken every ``sync_every`` tokens: a sample is
stamped at most ``sync_every - 1`` steps after its last token.
"""

from __future__ import annotations

import torch

from harness.generation.engine.slots import SlotEngine
from harness.generation.engine.state import PromptState
from harness.generation.engine.stop import StopChecker
from harness.generation.session import Finished, Session


class EngineSession(Session):
    def __init__(self, engine: SlotEngine, prompt: PromptState, eos: set[int], stop: StopChecker,
                 sync_every: int) -> None:
        self.engine, self.eos, self.stop, self.sync_every = engine, eos, stop, sync_every
        engine.start(prompt, eos)
        self.checked: dict[int, int] = {}  # slot -> how many of its tokens passed the stop check
        self._generated = 0  # tokens of samples that left their slots

    @property
    def in_flight(self) -> int:
        return len(self.engine.started)

    @property
    def tokens_generated(self) -> int:
        return self._generated + self.engine.tokens_in_flight()

    @property
    def samples(self) -> list[list[int] | None]:
        """Per slot, the tokens of its sample so far, or None when free (a host sync; for inspection)."""
        rows = self.engine.read(every_live=True)
        return [rows[i][0] if i in rows else None for i in range(self.engine.batch)]

    @torch.inference_mode()
    def add(self, n: int) -> None:
        free = self.engine.free_slots()
        if n > len(free):
            raise ValueError(f"add({n}) but only {len(free)} free slots")
        if n > 0:
            self.engine.refill(free[:n])
            self.checked.update(dict.fromkeys(free[:n], 0))

    def _stop_at(self, slot: int, tokens: list[int]) -> int | None:
        """Length of the sample up to the first token that completes a stop string, if any."""
        tail = self.stop.tail_tokens
        for end in range(self.checked[slot] + 1, len(tokens) + 1):
            if self.stop.hit(tokens[max(0, end - tail): end]):
                return end
        self.checked[slot] = len(tokens)
        return None

    @torch.inference_mode()
    def step(self) -> list[Finished]:
        self.engine.advance(self.sync_every)
        finished, ended = [], []
        for slot, (tokens, done) in self.engine.read(every_live=bool(self.stop.stop)).items():
            decoded = len(tokens)
            cut = self._stop_at(slot, tokens) if self.stop.stop else None
            if cut is not None:
                tokens, reason = tokens[:cut], "stop"
            elif done:
                reason = "stop" if tokens[-1] in self.eos else "length"
            else:
                continue
            ended.append(slot)
            del self.checked[slot]
            self._generated += decoded
            finished.append(Finished(self.stop.finalize(tokens), len(tokens), reason))
        self.engine.release(ended)
        return finished

    def abort(self) -> int:
        self._generated += self.engine.tokens_in_flight()
        self.checked.clear()
        return self.engine.abort()

    def close(self) -> None:
        self.abort()
        # The backend keeps the slots for the next problem; the prompt state is this one's.
        self.engine.prompt = None
