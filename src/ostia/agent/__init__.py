"""The amphora agent: Octavia's amphora REST API over mutual TLS, run inside an amphora's network
namespace, supervising that amphora's HAProxy and keepalived.

Standard library only, and nothing from the rest of ``ostia`` (an import-linter contract keeps
it so): it must start fast and run with nothing but its configuration directory.
"""
