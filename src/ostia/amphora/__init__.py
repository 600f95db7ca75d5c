"""What the controller sends to amphorae: rendered configurations and (later) the agent client."""
