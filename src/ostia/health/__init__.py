"""The health manager: amphorae' heartbeats received, verified and applied to the database
(amphora health, operating statuses, traffic statistics)."""
