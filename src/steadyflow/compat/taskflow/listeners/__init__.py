"""TaskFlow's listeners (``taskflow.listeners``): callbacks on an engine's notifiers."""
