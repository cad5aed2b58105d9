"""tomocupy-gladier: every tomography scan reconstructed with tomocupy on Globus Flows."""

__version__ = "0.1.0"
