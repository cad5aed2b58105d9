"""The previews: previews.py (compute function, Gladier tool, its tasks in a flow), schema.py
(its input), flow_input.py (its block). step.py names the step (``STEP``: what it adds to the house)."""
