"""frozen.made gives the value the constructor gives; frozen.once works a property out once per instance."""

from __future__ import annotations

import copy
import pickle
from dataclasses import dataclass, field, replace

from reconciler.frozen import defaults, made, once


@dataclass(frozen=True)
class Value:
    name: str
    size: int = 0
    tags: dict = field(default_factory=dict)

    @once
    def label(self) -> str:
        COMPUTED.append(self.name)
        return f"{self.name}:{self.size}"


COMPUTED: list[str] = []


def test_a_made_value_is_the_one_the_constructor_makes():
    built, fast = Value("a", 2, {"k": "v"}), made(Value, {**defaults(Value), "name": "a", "size": 2, "tags": {"k": "v"}})
    assert fast == built and repr(fast) == repr(built) and type(fast) is Value
    assert pickle.loads(pickle.dumps(fast)) == built and copy.deepcopy(fast) == built
    assert replace(fast, size=3) == Value("a", 3, {"k": "v"})


def test_defaults_leave_out_what_a_factory_makes():
    assert defaults(Value) == {"size": 0}  # `tags` needs a dict of its own per value


def test_once_works_a_property_out_once_per_value_and_again_for_a_replaced_one():
    COMPUTED.clear()
    value = Value("a", 1)
    assert (value.label, value.label) == ("a:1", "a:1") and COMPUTED == ["a"]
    assert replace(value, size=2).label == "a:2" and COMPUTED == ["a", "a"]
    assert value == Value("a", 1) and repr(value) == repr(Value("a", 1))  # the kept value is no field
