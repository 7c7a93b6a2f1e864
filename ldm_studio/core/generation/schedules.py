"""Prompt and guidance schedules: a value that changes at a given step, declared up front.

Two ways to write a prompt that changes during sampling, both parsed here (no torch: the CLI,
batch rows and the prompt box's hint use it without the engine):

- **switches** between whole prompts: `a forest [0.4] a burning forest`; a bracket holding only
  a number ends one prompt and starts the next, at that point;
- AUTOMATIC1111's **prompt editing**, inline: `a [red:blue:0.5] car`, `[to:when]` (nothing, then
  `to`), `[from::when]` (`from`, then nothing); edits may nest (`[[a:b:0.3]:c:0.6]`).

`when` is a fraction of the requested steps below 1, else a step number, as A1111 reads it
("old scheduling"): the first `k` steps use the text before the switch, where `k` is
`int(when * steps)` for a fraction and `int(when)` for a number >= 1. So with 30 steps
`[0.4]` keeps the first prompt for steps 1-12 (loop indices 0-11) and uses the second from
step 13 (index 12) on: the same as branching after step 12 (kept step index 11) with the
second prompt. A prompt without any of these is used exactly as typed; a scheduled prompt's
pieces are joined with runs of spaces collapsed and the ends stripped.

A bracket that is neither (`[word]`, A1111's de-emphasis) stays literal text, as do unmatched
brackets and `\\[`, `\\]`; A1111's alternation `[a|b]` and a `[when]` switch inside an edit are
refused with a one-line `RequestError` naming the field.

Guidance schedules use the switch form with numbers: `7.5 [0.5] 3`.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import lru_cache

from ldm_studio.core.errors import RequestError

_NUMBER = re.compile(r"\s*-?(?:\d+\.?\d*|\.\d+)\s*")


@dataclass(frozen=True)
class When:
    """A switch point as written: a fraction of the steps (< 1) or a step number."""

    value: float
    text: str

    def step(self, steps: int) -> int:
        """How many steps run before the switch (A1111: `int(v * steps)` below 1, else `int(v)`), capped at `steps`."""
        k = int(self.value * steps) if self.value < 1 else int(self.value)
        return max(0, min(steps, k))


@dataclass(frozen=True)
class Edit:
    """`[before:after:when]`: `before` for the first `when` steps, then `after`."""

    before: tuple[Node, ...]
    after: tuple[Node, ...]
    when: When


@dataclass(frozen=True)
class Group:
    """A bracket that is not a schedule (A1111's de-emphasis `[word]`): kept as literal brackets."""

    inner: tuple[Node, ...]


Node = str | Edit | Group


@dataclass(frozen=True)
class PromptSchedule:
    """A parsed prompt: segments separated by `[when]` switches, each a list of text and edits."""

    text: str
    segments: tuple[tuple[Node, ...], ...]
    switches: tuple[When, ...]  # len(segments) - 1

    @property
    def is_scheduled(self) -> bool:
        return bool(self.switches) or any(_has_edit(seg) for seg in self.segments)

    def switch_steps(self, steps: int) -> list[int]:
        """Every loop index at which the text may change (sorted, within 1..steps-1)."""
        points = {w.step(steps) for w in self.switches}
        for seg in self.segments:
            points.update(_edit_steps(seg, steps))
        return sorted(p for p in points if 0 < p < steps)

    def at(self, index: int, steps: int) -> str:
        """The prompt at loop index `index` (0-based) of a `steps`-step run."""
        if not self.is_scheduled:
            return self.text
        starts = [0] + [w.step(steps) for w in self.switches]
        for a, b in itertools.pairwise(starts):
            if b < a:
                raise RequestError("prompt", f"switch points must not go back: step {b} comes after step {a}")
        chosen = 0
        for i, start in enumerate(starts):
            if start <= index:
                chosen = i
        return " ".join(_render(self.segments[chosen], index, steps).split())

    def plan(self, steps: int) -> list[tuple[int, str]]:
        """(first loop index, prompt) per change, from index 0; consecutive equal prompts merged."""
        out: list[tuple[int, str]] = []
        for start in [0, *self.switch_steps(steps)]:
            text = self.at(start, steps)
            if not out or out[-1][1] != text:
                out.append((start, text))
        return out

    def hint(self, steps: int) -> str:
        """One line for people: `steps 1-12: a forest · 13-30: a burning forest` ('' when not scheduled)."""
        if not self.is_scheduled:
            return ""
        plan = self.plan(steps)
        parts = []
        for i, (start, text) in enumerate(plan):
            end = plan[i + 1][0] if i + 1 < len(plan) else steps
            span = f"{start + 1}" if end - start == 1 else f"{start + 1}-{end}"
            parts.append(f"{span}: {text or '(empty)'}")
        return "steps " + " · ".join(parts)

    def a1111(self) -> str:
        """The A1111 form: switches become nested edits, `[[p0:p1:w1]:p2:w2]`; edits stay as written."""
        if not self.switches or any(_bare_colon(seg) for seg in self.segments):
            return self.text  # a segment with its own ':' or '|' cannot sit inside an edit: not expressible
        text = _source(self.segments[0]).strip()
        for when, seg in zip(self.switches, self.segments[1:], strict=True):
            text = f"[{text}:{_source(seg).strip()}:{when.text}]"
        return text


def _bare_colon(nodes: tuple[Node, ...]) -> bool:
    """A ':' or '|' outside brackets and parentheses (it would split an A1111 edit)."""
    depth = 0
    for n in nodes:
        if not isinstance(n, str):
            continue
        for c in n:
            if c == "(":
                depth += 1
            elif c == ")" and depth:
                depth -= 1
            elif depth == 0 and c in ":|":
                return True
    return False


def _has_edit(nodes: tuple[Node, ...]) -> bool:
    return any(isinstance(n, Edit) or (isinstance(n, Group) and _has_edit(n.inner)) for n in nodes)


def _edit_steps(nodes: tuple[Node, ...], steps: int) -> set[int]:
    out: set[int] = set()
    for n in nodes:
        if isinstance(n, Edit):
            out.add(n.when.step(steps))
            out |= _edit_steps(n.before, steps) | _edit_steps(n.after, steps)
        elif isinstance(n, Group):
            out |= _edit_steps(n.inner, steps)
    return out


def _render(nodes: tuple[Node, ...], index: int, steps: int) -> str:
    parts = []
    for n in nodes:
        if isinstance(n, str):
            parts.append(n)
        elif isinstance(n, Group):
            parts.append("[" + _render(n.inner, index, steps) + "]")
        else:
            parts.append(_render(n.before if index < n.when.step(steps) else n.after, index, steps))
    return "".join(parts)


def _source(nodes: tuple[Node, ...]) -> str:
    parts = []
    for n in nodes:
        if isinstance(n, str):
            parts.append(n)
        elif isinstance(n, Group):
            parts.append("[" + _source(n.inner) + "]")
        else:
            parts.append(f"[{_source(n.before)}:{_source(n.after)}:{n.when.text}]")
    return "".join(parts)


# --- parsing ---------------------------------------------------------------------------------------


MAX_DEPTH = 16  # brackets nested deeper are refused: the parser recurses per level (hostile prompts)


def _pairs(text: str, field: str) -> dict[int, int]:
    """Matching `[` → `]` positions; escaped and unmatched brackets are left out (they stay literal)."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            stack.append(i)
        elif c == "]" and stack:
            pairs[stack.pop()] = i
            if len(stack) >= MAX_DEPTH:
                raise RequestError(field, f"brackets nest more than {MAX_DEPTH} levels deep")
        i += 1
    return pairs


class _Parser:
    def __init__(self, text: str, field: str) -> None:
        self.text, self.field, self.pairs = text, field, _pairs(text, field)

    def fail(self, problem: str) -> RequestError:
        return RequestError(self.field, problem)

    def nodes(self, start: int, end: int, top: bool) -> tuple[list[list[Node]], list[When]]:
        """Parse text[start:end]; at the top level `[when]` splits segments (else it is an error)."""
        segments: list[list[Node]] = [[]]
        switches: list[When] = []
        buffer: list[str] = []
        i = start

        def flush() -> None:
            if buffer:
                segments[-1].append("".join(buffer))
                buffer.clear()

        while i < end:
            c = self.text[i]
            if c == "\\" and i + 1 < end:
                buffer.append(self.text[i : i + 2])
                i += 2
                continue
            close = self.pairs.get(i) if c == "[" else None
            if close is None or close >= end:
                buffer.append(c)
                i += 1
                continue
            flush()
            node = self.bracket(i + 1, close)
            if isinstance(node, When):
                if not top:
                    raise self.fail(f"a [{node.text}] switch cannot stand inside [...]; put switches between prompts")
                switches.append(node)
                segments.append([])
            else:
                segments[-1].append(node)
            i = close + 1
        flush()
        return segments, switches

    def bracket(self, start: int, end: int) -> Node | When:
        """The content of one `[...]`: a switch, an edit, or a literal group."""
        parts = self.split(start, end)
        inner = self.text[start:end]
        if parts[1]:
            raise self.fail(f"alternation [{inner}] is not supported (prompt editing [from:to:when] is)")
        bounds = [start, *[p + 1 for p in parts[0]]]
        ends = [*parts[0], end]
        pieces = list(zip(bounds, ends, strict=True))
        if len(pieces) == 1:
            if _NUMBER.fullmatch(inner):
                return self.when(inner)
            return Group(self.inline(start, end))
        when_text = self.text[pieces[-1][0] : pieces[-1][1]]
        if not _NUMBER.fullmatch(when_text):
            raise self.fail(f"[{inner}]: the last part must be a step number or a fraction (write [from:to:when])")
        when = self.when(when_text)
        if len(pieces) == 2:
            return Edit((), self.inline(*pieces[0]), when)
        if len(pieces) == 3:
            return Edit(self.inline(*pieces[0]), self.inline(*pieces[1]), when)
        raise self.fail(f"[{inner}] has {len(pieces) - 1} colons; prompt editing is [from:to:when]")

    def split(self, start: int, end: int) -> tuple[list[int], list[int]]:
        """Top-level `:` and `|` positions inside a bracket (nested brackets and parentheses skipped)."""
        colons: list[int] = []
        bars: list[int] = []
        depth = 0
        i = start
        while i < end:
            c = self.text[i]
            if c == "\\":
                i += 2
                continue
            if c == "[" and i in self.pairs:
                i = self.pairs[i] + 1
                continue
            if c == "(":
                depth += 1
            elif c == ")" and depth:
                depth -= 1
            elif depth == 0 and c == ":":
                colons.append(i)
            elif depth == 0 and c == "|":
                bars.append(i)
            i += 1
        return colons, bars

    def inline(self, start: int, end: int) -> tuple[Node, ...]:
        segments, _ = self.nodes(start, end, top=False)
        return tuple(segments[0])

    def when(self, text: str) -> When:
        value = float(text)
        if value < 0:
            raise self.fail(f"switch point {text.strip()} is negative; write a fraction below 1 or a step number")
        return When(value, text.strip())


@lru_cache(maxsize=256)
def parse_prompt(text: str, field: str = "prompt") -> PromptSchedule:
    """Parse a prompt's schedule; RequestError naming `field` for a form LDM Studio does not take."""
    parser = _Parser(text, field)
    segments, switches = parser.nodes(0, len(text), top=True)
    return PromptSchedule(text, tuple(tuple(s) for s in segments), tuple(switches))


def prompt_a1111(text: str) -> str:
    """A prompt as A1111 writes it (switches as nested edits); unparseable text is returned as it is."""
    try:
        return parse_prompt(text).a1111()
    except RequestError:
        return text


# --- guidance --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GuidanceSchedule:
    """Guidance values separated by `[when]` switches: `7.5 [0.5] 3`."""

    text: str
    values: tuple[float, ...]
    switches: tuple[When, ...]

    def at(self, index: int, steps: int) -> float:
        value = self.values[0]
        for when, after in zip(self.switches, self.values[1:], strict=True):
            if index >= when.step(steps):
                value = after
        return value

    def hint(self, steps: int) -> str:
        starts = [0] + [w.step(steps) for w in self.switches]
        return "guidance " + " · ".join(
            f"{s + 1}: {v:g}" for s, v in zip(starts, self.values, strict=True) if s < steps
        )


@lru_cache(maxsize=64)
def parse_guidance(text: str, field: str = "guidance_schedule") -> GuidanceSchedule:
    """`7.5 [0.5] 3` → values and switch points; RequestError naming `field` otherwise."""
    schedule = parse_prompt(text, field)
    if any(_has_edit(seg) for seg in schedule.segments):
        raise RequestError(field, "write guidance values separated by [when] switches, e.g. 7.5 [0.5] 3")
    values = []
    for seg in schedule.segments:
        raw = "".join(n for n in seg if isinstance(n, str)).strip()
        if len(seg) != 1 or not isinstance(seg[0], str) or not _NUMBER.fullmatch(raw):
            shown = _source(seg).strip() or "(nothing)"
            raise RequestError(field, f"{shown!r} is not a guidance value; write e.g. 7.5 [0.5] 3")
        value = float(raw)
        if value < 0:
            raise RequestError(field, f"guidance {raw} is negative")
        values.append(value)
    if not schedule.switches:
        raise RequestError(field, f"{text.strip()!r} has no [when] switch; give the scale as guidance instead")
    return GuidanceSchedule(text, tuple(values), schedule.switches)
