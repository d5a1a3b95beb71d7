"""What a batch reports: one result per row and the summary table."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RowResult:
    row: int
    output: str
    status: str  # "done", "skipped" or "failed"
    seconds: float = 0.0
    message: str = ""
    worker: str = ""  # which process rendered it (pid, or host:pid on a cluster)


@dataclass
class BatchReport:
    rows: list[RowResult] = field(default_factory=list)
    seconds: float = 0.0  # the whole batch, wall clock
    executor: str = "sequential"

    @property
    def failed(self) -> list[RowResult]:
        return [r for r in self.rows if r.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.rows)

    def table(self) -> str:
        width = max([28] + [len(r.output) for r in self.rows])
        lines = [f"{'row':>4}  {'status':<8} {'time':>7}  {'output':<{width}} message"]
        for r in sorted(self.rows, key=lambda r: r.row):
            lines.append(
                f"{r.row:>4}  {r.status:<8} {r.seconds:>6.1f}s  {r.output:<{width}} {r.message}"
            )
        lines.append(
            f"{len(self.rows)} jobs: {self.count('done')} made, {self.count('skipped')} already "
            f"up to date, {self.count('failed')} failed ({self.executor}, {self.seconds:.1f} s)"
        )
        return "\n".join(lines)
