"""Certificates of the management plane: the local CA, amphora server and controller client
certificates."""
