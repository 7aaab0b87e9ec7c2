"""Without a cluster: the commands users type (make, dg), the real local stack, and faults that kill its
processes."""
