"""A world scored on a seeded subset of its users: the scripts score a slow policy (SmolLM2) or
time a sampler on a few hundred users, and an SFT run validates a slow policy on a few."""

from __future__ import annotations

import dataclasses


def pick_users(world, n: int, seed: int) -> list[str]:
    """A seeded subset of n of the world's users, in world order (all when n is 0 or more)."""
    import numpy as np

    from jaxinterest.data.columns import column

    users = list(column(world.users, "user_id"))
    if n and n < len(users):
        rows = np.random.default_rng(seed).choice(len(users), n, replace=False)
        users = [users[i] for i in sorted(rows)]
    return users


def user_subset(world, n: int, seed: int):
    """The world scored on a seeded subset of n users (`pick_users`): its users table holds
    only them, the rest (articles, every user's events and test clicks) is unchanged, so the
    evaluation protocol scores exactly these users. n = 0 keeps them all."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not n or n >= world.users.num_rows:
        return world
    keep = pa.array(pick_users(world, n, seed))
    return dataclasses.replace(
        world, users=world.users.filter(pc.is_in(world.users["user_id"], keep))
    )
