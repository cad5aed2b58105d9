"""What a run leaves behind: config.py (``[retention]``, its rules), tool.py (the in-flow removal
after a verified publication: Gladier tool, state names, the shim of compute/retention.py),
schema.py (its input), flow_input.py (its block), start_form.py (its defaults), results.py (what
it leaves in a run's state, in words). step.py names the step (``STEP``: what it adds to the
house)."""
