"""``python -m libiaso.servicedesk``: the same as ``iaso-servicedesk-notify``."""
from .commands import notify

if __name__ == "__main__":
    notify()
