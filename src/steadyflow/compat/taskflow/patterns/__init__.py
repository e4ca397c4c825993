"""TaskFlow's flow patterns: :mod:`.linear_flow`, :mod:`.unordered_flow`, :mod:`.graph_flow`."""
