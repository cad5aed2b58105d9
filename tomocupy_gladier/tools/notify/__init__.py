"""The email when a run ends or waits: tool.py (the states its pass adds to every flow, the
waiting email's tool, what its states leave in a run's state), schema.py (its input),
flow_input.py (its block, the run and choice pages and the sending account), config.py
(``[notify]``). The local stand-in for Send Notification Email is local/providers/notify.py; the
account is read by smtp_account.py and kept private by redaction.py, which the local backend
shares. step.py names the step (``STEP``: what it adds to the house)."""
