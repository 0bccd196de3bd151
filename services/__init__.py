"""Services: paging, Personalize access, digest, scheduling and state. Each takes its clients in the constructor."""
