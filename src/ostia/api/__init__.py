"""The HTTP layer: the Octavia v2 API."""
