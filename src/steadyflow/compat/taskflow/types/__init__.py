"""TaskFlow's ``taskflow.types``: :mod:`.failure` and :mod:`.notifier`."""
