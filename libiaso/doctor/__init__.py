"""The profile doctor: a live API walked with one environment's profile, for day one at a site."""
