"""Per-member statistics, the summary table and the progress bar over members.

A member's statistics describe the model it holds: the epochs it ran, its
best epoch by ``monitor``, its held epoch (whose weights it predicts with:
the best one when it restored them, else its last), every metric of its
history at the held epoch, and its training time. Across members they are
summarised by mean, standard deviation, minimum and maximum, as the old
keraspipelines ``output_statistics`` did.
"""

from __future__ import annotations

import logging
from typing import Iterable, Iterator, TypeVar

import numpy as np

logger = logging.getLogger("sk_kerasbag")

AGGREGATES = ("mean", "std", "min", "max")

T = TypeVar("T")


def member_statistics(member) -> dict[str, float]:
    """One member's row of the statistics table.

    Parameters
    ----------
    member : TrainedMember
        A trained member: its history, best and held epochs and training time.

    Returns
    -------
    dict
        ``epochs`` run, ``best_epoch`` (by ``monitor``; counted from 1),
        ``held_epoch`` (whose weights the member holds), every metric at the
        held epoch, and ``seconds``.
    """
    held = member.held_epoch
    row = {
        "epochs": len(next(iter(member.history.values()), [])),
        "best_epoch": np.nan if member.best_epoch is None else member.best_epoch + 1,
        "held_epoch": held + 1,
    }
    row.update((name, values[held]) for name, values in member.history.items() if values)
    row["seconds"] = float(member.seconds)
    return row


def statistics_table(rows: list[dict[str, float]]) -> dict[str, np.ndarray]:
    """Columns of per-member statistics, ``member`` first (counted from 1).

    A metric missing for some member (such as ``val_loss`` when only some
    members had validation rows) is NaN there.
    """
    names = list(dict.fromkeys(name for row in rows for name in row))
    table = {"member": np.arange(1, len(rows) + 1)}
    for name in names:
        table[name] = np.array([row.get(name, np.nan) for row in rows], dtype=float)
    for name in ("epochs", "best_epoch", "held_epoch"):
        if name in table and not np.isnan(table[name]).any():
            table[name] = table[name].astype(int)
    return table


def aggregate(table: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Mean, std, min and max of every statistic across members (NaN ignored)."""
    summary = {}
    for name, values in table.items():
        if name == "member":
            continue
        values = np.asarray(values, dtype=float)
        finite = values[~np.isnan(values)]
        summary[name] = {
            statistic: float(getattr(finite, statistic)()) if len(finite) else np.nan
            for statistic in AGGREGATES
        }
    return summary


def format_table(table: dict[str, np.ndarray]) -> str:
    """The per-member rows followed by mean, std, min and max, as aligned text."""
    names = list(table)
    across = aggregate(table)
    members = [[_cell(table[n][i]) for n in names] for i in range(len(table["member"]))]
    summary = [[name] + [_cell(across[n][name]) for n in names[1:]] for name in AGGREGATES]
    return render_table(names, members, summary)


def render_table(header: list[str], *groups: list[list[str]], left_columns: int = 0) -> str:
    """Rows of text cells as aligned columns, two spaces apart.

    Each column is as wide as its widest cell; the first ``left_columns``
    columns are aligned left (names), the others right (numbers). A rule of
    dashes goes under the header and between consecutive groups of rows.
    """
    rows = [header, *(row for group in groups for row in group)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]

    def line(row: list[str]) -> str:
        cells = zip(row, widths)
        return "  ".join(
            cell.ljust(width) if i < left_columns else cell.rjust(width)
            for i, (cell, width) in enumerate(cells)
        ).rstrip()

    rule = "  ".join("-" * width for width in widths)
    lines = [line(header)]
    for group in groups:
        lines += [rule, *map(line, group)]
    return "\n".join(lines)


def _cell(value) -> str:
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if np.isnan(value):
        return "-"
    return f"{value:.4f}"


def latest_score(history: dict[str, list[float]]) -> dict[str, float]:
    """The last epoch's validation metrics (or training metrics without validation)."""
    shown = {k: v for k, v in history.items() if k.startswith("val_") and v}
    if not shown:
        shown = {k: v for k, v in history.items() if v}
    return {name: values[-1] for name, values in shown.items()}


def track_members(members: Iterable[T], total: int, *, enabled: bool) -> Iterator[T]:
    """Yield ``members`` unchanged, reporting each one's latest validation score when ``enabled``.

    The report is a progress bar (tqdm, on stderr) and one ``INFO`` line per
    member on the ``"sk_kerasbag"`` logger, for log files.
    """
    if not enabled:
        yield from members
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, desc="members", unit="member") as bar:
        for i, member in enumerate(members, start=1):
            yield member
            scores = {name: f"{value:.4f}" for name, value in latest_score(member.history).items()}
            bar.set_postfix(scores, refresh=False)
            bar.update()
            described = ", ".join(f"{name}={value}" for name, value in scores.items())
            logger.info("member %d/%d: %s (%.1f s)", i, total, described, member.seconds)
