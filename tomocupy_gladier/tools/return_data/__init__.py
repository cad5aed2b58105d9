"""Sending results back: tool.py (Gladier tool, state names), schema.py (its input),
flow_input.py (its block), config.py (``[return]``), start_form.py (its defaults). step.py names the step (``STEP``: what it adds to the house)."""
