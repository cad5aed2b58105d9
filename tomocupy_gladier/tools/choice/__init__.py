"""The interactive loop (a try, its options, the wait for the scientist's choice): tool.py
(compute function, Gladier tools, state names, its definition passes), schema.py (its input),
flow_input.py (its block), config.py (``[choice]``), start_form.py (the try's defaults). step.py names the step (``STEP``: what it adds to the house)."""
