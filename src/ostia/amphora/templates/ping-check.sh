#!/bin/sh
# HAProxy external check of PING health monitors: HAProxy passes
# <proxy address> <proxy port> <server address> <server port>; the server is up when it
# answers one ICMP echo within a second. HAProxy gives the script an empty PATH.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
exec ping -q -n -c 1 -W 1 "$3" >/dev/null 2>&1
