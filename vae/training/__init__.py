"""Training a run: devices, the loop, its callbacks and profiling."""
