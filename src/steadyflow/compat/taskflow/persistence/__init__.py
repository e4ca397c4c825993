"""TaskFlow's persistence (``taskflow.persistence``): logbooks over steadyflow's backends."""
