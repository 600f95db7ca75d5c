"""Identity: a Keystone v3 subset served by Ostia, and token validation for its APIs."""
