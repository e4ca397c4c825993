"""TaskFlow's action engines (``taskflow.engines.action_engine``), run by steadyflow's engine."""
