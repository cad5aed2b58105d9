"""The interactive loop's choice of the centre, as it runs on the compute endpoint: a try's
previews become the options of Globus' "Wait For User Selection" action provider."""

from __future__ import annotations

from typing import Any

from tomocupy_gladier.compute.axis import give_axis

#: the landing page's ``url_suffix`` is the run id followed by this
LANDING_SUFFIX = "-choose"


def make_choice_options(previews_result: dict | None = None, recon: dict | None = None,
                        interactive: dict | None = None, run_id: str | None = None,
                        user_id: str | None = None) -> dict:
    """The options of the centre choice, in the shape of the "Wait For User Selection" action
    provider's input, from a try's previews result.

    - ``previews_result``: what ``make_previews`` returned for the try (``suggested_center``,
      ``ranking``, ``montage`` and its ``tiles``: the crops of ranked candidates).
    - ``recon``: the full reconstruction's parameters; each option carries them with
      ``rotation-axis`` set to its centre (automatic search off).
    - ``interactive``: the flow input's block; ``choices`` = how many centres are offered.
    - ``run_id``: the flow run; every URL suffix starts with it (suffixes are global).
    - ``user_id``: the run's user (``$._context.user_id``, an identity URN); with the
      experiment's ``interactive.selectable_by`` it is who may choose (``selectable_by`` on the
      landing page and every option), so the emailed link is no use to anyone else.

    Returns ``options`` (``name``, ``description``, ``url_suffix``, ``completed_message``),
    ``landing_page`` (``url_suffix``, ``page_title``, ``header_text``, ``preamble_text``),
    ``centers`` and ``recon`` by option name (what the flow reads once an option is chosen),
    and ``montage`` (the try's montage file). The suggested centre comes first.
    """
    shown = dict(previews_result or {})
    settings = dict(interactive or {})
    params = dict(recon or {})
    count = max(1, int(settings.get("choices", 8)))
    prefix = str(run_id or "run")
    suggested = shown.get("suggested_center")
    if suggested is None:
        raise ValueError("the try's previews suggest no centre: nothing to choose from "
                         "(was the try reconstruction a try?)")
    picks = [(round(float(suggested), 2), "suggested by the focus measure (sharpest slice)")]
    # the ranked candidates: the ranking, then the montage's crops (each tile can be chosen)
    ranked = list(shown.get("ranking") or []) + list((shown.get("montage") or {}).get("tiles") or [])
    for entry in sorted(ranked, key=lambda e: e.get("rank") or 1e9):
        center = round(float(entry["center"]), 2)
        if all(abs(center - c) > 1e-6 for c, _ in picks):
            picks.append((center, f"candidate ranked #{entry.get('rank')} by the focus measure"))
    picks = picks[:count]

    scan = str((settings.get("try_tomocupy") or {}).get("file_name") or "").rsplit("/", 1)[-1]
    options: list[dict[str, Any]] = []
    centers: dict[str, float] = {}
    by_name: dict[str, dict[str, Any]] = {}
    for k, (center, why) in enumerate(picks):
        name = f"centre {center:.2f}"
        options.append({
            "name": name,
            "description": f"Reconstruct {scan or 'the scan'} at rotation axis {center:.2f}: {why}",
            "url_suffix": f"{prefix}-option-{k}",
            "completed_message": f"The full reconstruction of {scan or 'the scan'} starts at "
                                 f"rotation axis {center:.2f}.",
        })
        centers[name] = center
        by_name[name] = dict(give_axis(dict(params), center))

    choosers = [str(who) for who in [user_id, *(settings.get("selectable_by") or [])] if who]
    choosers = list(dict.fromkeys(choosers))
    if choosers:
        for option in options:
            option["selectable_by"] = list(choosers)

    montage = shown.get("montage") or {}
    published = (settings.get("montage") or {})
    where = ""
    if published.get("enable") and published.get("destination"):
        destination = published["destination"]
        where = (f" The montage is published on collection {destination.get('id')} at "
                 f"{destination.get('path')}.")
    landing_page: dict[str, Any] = {
        "url_suffix": f"{prefix}{LANDING_SUFFIX}",
        "page_title": f"Rotation axis of {scan or 'the scan'}",
        "header_text": "Choose the rotation axis",
        "preamble_text": (f"The try of {scan or 'the scan'} suggests {float(suggested):.2f}."
                          f"{where} Choose the centre the full reconstruction uses."),
    }
    if choosers:
        landing_page["selectable_by"] = list(choosers)
    return {"options": options, "landing_page": landing_page, "centers": centers, "recon": by_name,
            "suggested_center": float(suggested), "montage": montage.get("file")}
