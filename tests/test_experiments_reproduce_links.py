"""`reproduce` reruns every row itself: a run that linked rows from other runs (`reuse`, Figure
2's shared `cells`) is rerun with those links cleared, unless the caller sets them."""

from __future__ import annotations

from jaxinterest.config import load_config
from jaxinterest.experiments.reproduce import unlinked


def test_links_to_other_runs_are_cleared():
    config = {"reuse": ["/runs/fig2/cells/a/teacher/grpo"], "cells": "/runs/fig2/cells", "seed": 0}
    assert unlinked(config, ["seed=1"]) == ["seed=1", "reuse=[]", 'cells=""']


def test_unset_links_add_nothing_and_the_callers_own_win():
    assert unlinked({"reuse": [], "cells": "", "rows": ["teacher"]}, []) == []
    config = {"reuse": ["/a"], "cells": "/c"}
    assert unlinked(config, ["reuse=['/b']", "cells = /d"]) == ["reuse=['/b']", "cells = /d"]


def test_the_cleared_values_parse_to_empty_fields():
    """The overrides go through the scripts' own --set parsing: Table 3's reuse becomes an
    empty tuple and Figure 2's cells an empty string (its own OUT/cells)."""
    import importlib.util
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "experiments"
    configs = {}
    for name, cls in (("table3_distill", "Table3Config"), ("fig2_model_size", "Fig2Config")):
        spec = importlib.util.spec_from_file_location(name, root / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules.setdefault(name, module)  # dataclasses look their module up there
        spec.loader.exec_module(sys.modules[name])
        module = sys.modules[name]
        configs[name] = getattr(module, cls)
    t3 = load_config(configs["table3_distill"], None, ["reuse=['/x']", "reuse=[]"])
    f2 = load_config(configs["fig2_model_size"], None, ["cells=/c", 'cells=""'])
    assert t3.reuse == () and f2.cells == ""
