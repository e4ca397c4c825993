"""TaskFlow's ``taskflow.utils``: only :mod:`.persistence_utils` is covered."""
