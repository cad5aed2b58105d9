"""What a run may leave behind, and for how long: the experiment file's ``[retention]``.

Four rules, one per kind of data this product makes or copies (never the beamline's original
scan, which no rule names):

- ``raw``: the scan's copy at the facility (made by a flow that moves the scan);
- ``reconstruction``: a full reconstruction at the facility, once it is published;
- ``tries``: try reconstructions at the facility (the slices of a centre search);
- ``published``: published reconstructions on the publication collection.

A rule is ``"keep"``, ``"after-publish"`` (``raw`` and ``reconstruction`` only: removed by the
run itself once its publication is verified, see ``tools/retention/``) or an age, ``"<N>d"``
(days) or ``"<N>h"`` (hours): removed by ``tomocupy-gladier prune`` once that old (``"0d"``:
at the next prune). Without the section, everything is kept but tries older than a week.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, Mapping

from tomocupy_gladier.experiment.config import ExperimentConfig, Section

Kind = Literal["raw", "reconstruction", "tries", "published"]
KINDS: tuple[Kind, ...] = ("raw", "reconstruction", "tries", "published")
KEEP = "keep"
AFTER_PUBLISH = "after-publish"
_AGE = re.compile(r"^([0-9]{1,5})([dh])$")
AGE_PATTERN = _AGE.pattern
#: the rules that may be ``after-publish``: what exists at the facility once a run published it
AFTER_PUBLISH_KINDS: tuple[Kind, ...] = ("raw", "reconstruction")
#: what each rule is about, in messages and on the pages
WHAT: dict[str, str] = {
    "raw": "the scan's copy at the facility",
    "reconstruction": "full reconstructions at the facility",
    "tries": "try reconstructions at the facility",
    "published": "published reconstructions",
}


def describe(kind: str) -> str:
    """What a rule's data is, in words (:data:`WHAT`)."""
    return WHAT.get(kind, kind)


@dataclass(frozen=True)
class Rule:
    """One retention rule as written (``text``): keep, after-publish, or an age."""

    text: str

    @property
    def keeps(self) -> bool:
        return self.text == KEEP

    @property
    def after_publish(self) -> bool:
        return self.text == AFTER_PUBLISH

    @property
    def age(self) -> timedelta | None:
        """The age past which the data goes (None: keep, or after-publish)."""
        match = _AGE.match(self.text)
        if match is None:
            return None
        number, unit = int(match.group(1)), match.group(2)
        return timedelta(days=number) if unit == "d" else timedelta(hours=number)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class RetentionRules:
    """The ``[retention]`` section (defaults: keep all but tries older than 7 days)."""

    raw: Rule = Rule(KEEP)
    reconstruction: Rule = Rule(KEEP)
    tries: Rule = Rule("7d")
    published: Rule = Rule(KEEP)

    def rule(self, kind: str) -> Rule:
        """The rule for ``kind`` (one of :data:`KINDS`)."""
        if kind not in KINDS:
            raise KeyError(f"no retention rule {kind!r}; rules: {', '.join(KINDS)}")
        rule: Rule = getattr(self, kind)
        return rule

    def as_dict(self) -> dict[str, str]:
        return {kind: str(self.rule(kind)) for kind in KINDS}

    @property
    def removes_after_publish(self) -> bool:
        """Whether a run removes anything itself once its publication is verified."""
        return any(self.rule(kind).after_publish for kind in AFTER_PUBLISH_KINDS)


DEFAULT_RULES = RetentionRules()


def _words(kind: str) -> tuple[str, ...]:
    return (KEEP, AFTER_PUBLISH) if kind in AFTER_PUBLISH_KINDS else (KEEP,)


def _rule_schema(kind: Kind) -> dict[str, Any]:
    # the words and the age's form are checked by parse(), which names what is allowed
    return {"type": "string", "description": WHAT[kind]}


SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "What a run leaves behind, and for how long",
    "properties": {kind: _rule_schema(kind) for kind in KINDS},
    "additionalProperties": False,
}


def parse(section: Mapping[str, Any], raw: Mapping[str, Any]) -> RetentionRules:
    """``[retention]`` as :class:`RetentionRules` (rules left out keep their defaults); a
    :class:`ValueError` names a rule that is neither a word it allows nor an age."""
    for kind in KINDS:
        text = section.get(kind)
        if text is not None and text not in _words(kind) and not _AGE.match(text):
            allowed = " or ".join(f'"{word}"' for word in _words(kind))
            raise ValueError(f'{kind} = "{text}": {WHAT[kind]} are kept with {allowed}, or removed '
                             f'at an age: a number of days or hours, "14d" or "12h"')
    return RetentionRules(**{kind: Rule(section[kind]) for kind in KINDS if kind in section})


def retention_rules(config: ExperimentConfig) -> RetentionRules:
    """The experiment's rules: its ``[retention]`` section, else :data:`DEFAULT_RULES`."""
    rules = config.sections.get(SECTION.name)
    return rules if isinstance(rules, RetentionRules) else DEFAULT_RULES


TEMPLATE = """\
# [retention]                   # what runs leave behind (default: keep all but tries older than 7d)
# raw = "keep"                  # the scan's copy at the facility: "keep", "after-publish" (the run
#                               # removes it once its publication is verified) or an age, "14d"
# reconstruction = "keep"       # the facility's full reconstruction: "keep", "after-publish", "30d"
# tries = "7d"                  # try reconstructions at the facility ("0d": at the next prune)
# published = "keep"            # published reconstructions: "keep" or an age, "365d"
#                               # ages are applied by `tomocupy-gladier prune` (--dry-run lists them);
#                               # the beamline's original scan is never removed
"""

SECTION = Section("retention", SCHEMA, parse, template=TEMPLATE)
