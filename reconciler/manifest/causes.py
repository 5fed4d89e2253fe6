"""Diagnostics cause first: one error per unset variable, a broken reconciler.yaml default reported once with the
manifests it breaks, the same message from many files grouped, and reconciler.yaml's problems before the
manifests' (a reader fixes the first line first)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from reconciler.errors import Diagnostic

GROUP_AT = 4  # the same message in this many places or more is one diagnostic
SHOWN_PLACES = 3  # places a grouped message names before "and N more"

Place = tuple[str, int, int]  # path, line, column


@dataclass
class BrokenDefault:
    """A reconciler.yaml default that could not be used, and the manifests that leave that field to it."""

    field: str
    lines: tuple[int, int]  # its first and last line in reconciler.yaml
    heirs: list[Place] = field(default_factory=list)


def cause_first(items: Sequence[Diagnostic], unset: Mapping[str, list[Place]], config_path: str,
                broken: Iterable[BrokenDefault], causes: frozenset[str]) -> list[Diagnostic]:
    """The diagnostics to show, in order. `causes`: the paths whose problems come first (reconciler.yaml, the
    workspace variable, the lock)."""
    items, uses = list(items), {name: list(places) for name, places in unset.items()}
    for default in broken:
        if default.heirs and not _attach(items, default, config_path):
            for places in uses.values():  # the default is an unset variable: its heirs use it too
                if any(p == config_path and _within(line, default.lines) for p, line, _ in places):
                    places.extend(default.heirs)
    items += [_unset(name, places, causes) for name, places in uses.items()]
    grouped = _group_repeats(items)
    return sorted(grouped, key=lambda d: (d.path not in causes, d.path, d.line, d.col, d.message))


def _within(line: int, lines: tuple[int, int]) -> bool:
    return lines[0] <= line <= lines[1]


def _attach(items: list[Diagnostic], default: BrokenDefault, config_path: str) -> bool:
    """Name the heirs in the default's own error; False when it has none (an unset variable's default)."""
    for index, item in enumerate(items):
        if item.path == config_path and item.severity == "error" and _within(item.line, default.lines):
            items[index] = _grouped(item, default.heirs, [_place(item), *default.heirs])
            return True
    return False


def _unset(name: str, places: list[Place], causes: frozenset[str]) -> Diagnostic:
    places = sorted(dict.fromkeys(places), key=lambda p: (p[0] not in causes, p))
    first = places[0]
    remedy = f"set it or write ${{{name}:-default}}"
    if len(places) == 1:
        return Diagnostic(*first, f"environment variable {name!r} is not set; {remedy}")
    others = len({path for path, _, _ in places} - {first[0]})
    where = (f"{first[0]}:{first[1]} and {_count(others, 'manifest')}" if others
             else f"{len(places)} values of {first[0]}")
    return Diagnostic(*first, f"environment variable {name!r} is not set (used in {where}); {remedy}",
                      count=len(places), locations=tuple(_shown(p) for p in places))


def _group_repeats(items: list[Diagnostic]) -> list[Diagnostic]:
    by_message: dict[tuple[str, str], list[Diagnostic]] = {}
    for item in items:
        by_message.setdefault((item.severity, item.message), []).append(item)
    result = []
    for same in by_message.values():
        if len(same) < GROUP_AT or len({d.path for d in same}) < 2 or any(d.count > 1 for d in same):
            result.extend(same)
            continue
        same.sort()
        places = [_place(d) for d in same]
        result.append(_grouped(same[0], places, places))
    return result


def _grouped(item: Diagnostic, named: list[Place], places: list[Place]) -> Diagnostic:
    listed = ", ".join(f"{path}:{line}" if line > 0 else path for path, line, _ in named[:SHOWN_PLACES])
    more = f" and {len(named) - SHOWN_PLACES:,} more" if len(named) > SHOWN_PLACES else ""
    paths = {path for path, _, _ in named}
    where = _count(len(paths), "manifest") if len(paths) == len(named) else _count(len(named), "place")
    message = f"{item.message} (the same {item.severity} in {where}: {listed}{more})"
    return replace(item, message=message, count=len(places), locations=tuple(_shown(p) for p in places))


def _place(item: Diagnostic) -> Place:
    return (item.path, item.line, item.col)


def _shown(place: Place) -> str:
    path, line, col = place
    return f"{path}:{line}:{col}" if line > 0 else path


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
