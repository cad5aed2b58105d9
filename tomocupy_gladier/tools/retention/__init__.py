"""What a run leaves behind: config.py (``[retention]``, its rules). step.py names the step
(``STEP``: what it adds to the house)."""
