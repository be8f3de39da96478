"""The behaviour view a reward judges a list against: the user's events the prompt shows.

The prompt (`data.prompts.render_prompt`) shows a user's events after noise cleaning (the data
pipeline's `clean_fn` hook), grouped by domain, most recent first; when the whole history does
not fit the token budget it admits the newest events of each domain round-robin. The rewards
must judge against exactly that view, so `ViewBuilder` applies the same `clean_fn` and, when
given the policy's tokenizer and `PromptConfig`, keeps exactly the events `render_prompt`
admitted (`Prompt.n_events`); without a tokenizer it keeps every cleaned event. Texts are
whitespace-normalised and cut to `max_chars_per_event`, as the prompt shows them.

Reads only events.parquet (never test clicks, never oracle/).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from jaxinterest.data.prompts import DOMAIN_ORDER, SECTION, PromptConfig, render_prompt

CleanFn = Callable[[pa.Table], np.ndarray]


@dataclass(frozen=True)
class UserView:
    """One user's shown events, domain by domain (DOMAIN_ORDER), most recent first.

    domains, texts, hosts: [n] tuples (host: the browsed page's host or ""); n may be 0.
    """

    user_id: str
    domains: tuple[str, ...]
    texts: tuple[str, ...]
    hosts: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.texts)

    def context(self) -> str:
        """The behaviours as the LLM judge reads them: one section per domain, as in the
        prompt's user message ("Search queries:\\n- ...")."""
        parts = []
        for d in DOMAIN_ORDER:
            lines = [
                f"- {t} ({h})" if h and h not in t else f"- {t}"
                for dom, t, h in zip(self.domains, self.texts, self.hosts, strict=True)
                if dom == d
            ]
            parts.append(f"{SECTION[d]}:\n" + ("\n".join(lines) or "- (none)"))
        return "\n\n".join(parts)


def _host(url) -> str:
    if not url:
        return ""
    return str(url).split("//")[-1].split("/")[0][:60].removeprefix("www.")


def normalise_text(text: str, cap: int) -> str:
    """Whitespace collapsed and cut to `cap` characters, as the prompt shows an event."""
    return " ".join(str(text).split())[:cap]


class ViewBuilder:
    """user_id -> UserView over a world's events (World from `load_world`, events loaded)."""

    def __init__(
        self,
        world,
        clean_fn: CleanFn | None = None,
        tokenizer=None,
        prompt_cfg: PromptConfig | None = None,
    ):
        if world.events is None:
            raise ValueError("the world was loaded without events; load parts=('events', ...)")
        ids, offsets = world.user_slices()
        self.rows = {u: (int(offsets[i]), int(offsets[i + 1])) for i, u in enumerate(ids)}
        self.events = world.events.select(["event_id", "domain", "timestamp", "text", "url"])
        self.clean_fn, self.tokenizer = clean_fn, tokenizer
        self.cfg = prompt_cfg or PromptConfig()

    def __contains__(self, user_id) -> bool:
        return user_id in self.rows

    def view(self, user_id: str) -> UserView:
        if user_id not in self.rows:
            raise KeyError(f"user_id {user_id!r} has no events in the world")
        lo, hi = self.rows[user_id]
        ev = self.events.slice(lo, hi - lo)
        if self.clean_fn is not None:
            keep = np.asarray(self.clean_fn(ev))
            if keep.shape != (len(ev),) or keep.dtype != bool:
                raise ValueError(
                    f"clean_fn must return a bool mask of shape ({len(ev)},), got "
                    f"{keep.dtype} {keep.shape}"
                )
            ev = ev.filter(pa.array(keep))
        domains = ev.column("domain").to_pylist()
        texts = ev.column("text").to_pylist()
        urls = ev.column("url").to_pylist()
        ts = ev.column("timestamp").to_numpy()
        shown = None
        if self.tokenizer is not None:
            shown = render_prompt(domains, texts, urls, ts, self.tokenizer, self.cfg).n_events
        out_d, out_t, out_h = [], [], []
        for d in DOMAIN_ORDER:
            idx = [i for i, x in enumerate(domains) if x == d]
            idx.sort(key=lambda i: -ts[i])  # the prompt's order: newest first, stable on ties
            if shown is not None:
                idx = idx[: shown[d]]
            for i in idx:
                out_d.append(d)
                out_t.append(normalise_text(texts[i], self.cfg.max_chars_per_event))
                out_h.append(_host(urls[i]) if d == "browse" else "")
        return UserView(user_id, tuple(out_d), tuple(out_t), tuple(out_h))
