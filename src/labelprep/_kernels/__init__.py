"""Numba hot loops, one module per feature; each kernel's docstring says what it computes."""
