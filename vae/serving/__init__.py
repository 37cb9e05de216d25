"""The outward surfaces: export and the Python API."""
