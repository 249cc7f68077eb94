"""``hydra.sweeper._target_`` of experiment=m1_tune / gan_tune: hydra-optuna-sweeper's sweeper (same config) whose
search continues after a stop. The work is ``ssgen.run.search.ResumableSearch``; this class only has to live here,
where Hydra looks for plugins."""

from __future__ import annotations

from typing import Any

from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper


class ResumableOptunaSweeper(OptunaSweeper):
    """``OptunaSweeper`` with ``ssgen.run.search.ResumableSearch`` (see there)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from ssgen.run.search import (
            ResumableSearch,  # at instantiation: Hydra imports every plugin module at startup
        )

        self.sweeper = ResumableSearch(**kwargs)
