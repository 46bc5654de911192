"""orch: simulate i_mmap lock designs across machine shapes, at sweep scale."""

__version__ = "0.1.0"
