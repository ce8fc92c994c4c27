"""Planning: what an entry serves (precision, memory, TP legality), the planner with the seed's
fallbacks, and how a decision is explained."""
