"""Networks: a Neutron v2.0 subset served by Ostia, with IPAM, backing the VIP and member
subnets of load balancers."""
