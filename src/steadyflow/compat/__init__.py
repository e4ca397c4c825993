"""Compatibility layers that let programs written for other libraries run on steadyflow.

Nothing here is imported by ``import steadyflow``: a layer loads only when asked for.
"""
