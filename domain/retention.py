"""What crosses Temporal for retention (workflows/retention.py): which tables keep how long."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PruneTable:
    table: str
    keep_days: float
    batch_size: int = 1000


@dataclass(frozen=True)
class Pruned:
    table: str
    deleted: int
    more: bool  # the activity stopped at its time budget with rows still to go


@dataclass(frozen=True)
class RetentionPlan:
    tables: list[PruneTable] = field(default_factory=list)
