"""Human annotation: annotation queues, their items, leases and agreement."""
