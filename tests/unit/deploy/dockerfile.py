"""Just enough of a Dockerfile parser for the tests: instructions, stages, exec-form arguments."""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = ["Instruction", "exec_form", "final_stage", "instructions"]


@dataclass(frozen=True)
class Instruction:
    """One instruction: ``keyword`` upper-cased, ``arguments`` as written (continuations joined)."""

    keyword: str
    arguments: str


def instructions(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile; comment lines are skipped, also inside continuations."""
    found: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        found.append(Instruction(keyword.upper(), arguments.strip()))
        pending = ""
    return found


def final_stage(all_instructions: list[Instruction]) -> list[Instruction]:
    """The instructions from the last ``FROM`` on: the stage that becomes the image."""
    starts = [i for i, instruction in enumerate(all_instructions) if instruction.keyword == "FROM"]
    return all_instructions[starts[-1] :]


def exec_form(arguments: str) -> list[str]:
    """The JSON array of an exec-form ``CMD``/``ENTRYPOINT`` (a shell form is an error)."""
    parsed = json.loads(arguments)
    if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
        msg = f"not an exec-form array of strings: {arguments}"
        raise TypeError(msg)
    return parsed
