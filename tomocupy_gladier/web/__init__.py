"""``tomocupy-gladier serve``: a browser view of an experiment's runs, campaigns and records.

``data`` decides what the pages show (from :class:`~tomocupy_gladier.runs.run_record.RunRecord`,
the run store, campaign ledgers and the catalogue), ``security`` who may see them and which
files may be sent, ``app`` the routes (Flask), ``templates/`` and ``static/`` the pages.
"""
