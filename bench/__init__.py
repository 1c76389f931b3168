"""accelo-kit's benchmark: how close a sync comes to the physical limits, measured against the simulator."""
