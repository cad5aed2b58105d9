"""The scan transfer, beamline to facility: tool.py (Gladier tool, state names), schema.py (its
input), flow_input.py (its input keys), start_form.py (their defaults). step.py names the step (``STEP``: what it adds to the house)."""
