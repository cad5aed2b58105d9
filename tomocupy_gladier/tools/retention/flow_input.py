"""The ``retention`` block of the flow input: whether the run removes anything itself once its
publication is verified, and which of the ``after-publish`` rules."""

# No ``from __future__ import annotations``: TypedDict reads NotRequired from real annotations.
from typing import Literal, NotRequired, TypedDict

from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.tools.retention.config import Rule, retention_rules
from tomocupy_gladier.tools.step import RunFacts

#: a rule as the flow knows it (config.py's words): removed by the run, or left to the other
#: rules (an age is prune's)
InFlow = Literal["keep", "after-publish"]


class RetentionBlock(TypedDict):
    """``retention``: the removal after publication (only ``enable`` when off)."""

    enable: bool
    raw: NotRequired[InFlow]
    reconstruction: NotRequired[InFlow]


def in_flow(rule: Rule) -> InFlow:
    """``after-publish``, or ``keep`` for every other rule (an age is prune's, not the run's)."""
    return "after-publish" if rule.after_publish else "keep"


def retention_input(config: ExperimentConfig) -> RetentionBlock:
    """The ``retention`` block: on when some ``[retention]`` rule is ``after-publish``, with
    the two rules that may be. Every flow, campaign job and timer keeps it as the experiment
    says: a campaign of hundreds of scans is where the room matters."""
    rules = retention_rules(config)
    if not rules.removes_after_publish:
        return {"enable": False}
    return {"enable": True, "raw": in_flow(rules.raw), "reconstruction": in_flow(rules.reconstruction)}


class RetentionInput(TypedDict):
    """The retention step's key of the flow input."""

    retention: RetentionBlock


def retention_block(facts: RunFacts) -> RetentionInput:
    """The retention step's part of the flow input (:func:`retention_input`)."""
    return {"retention": retention_input(facts.config)}
