"""Every VM's last good backup: the fleet listing, its judgement, and the passive results."""
