"""The reconstruction: tomocupy_recon.py (compute function, Gladier tool), schema.py (its input,
with the compute endpoint every compute step shares), flow_input.py (its keys of the input),
start_form.py (their defaults). step.py names the step (``STEP``: what it adds to the house)."""
