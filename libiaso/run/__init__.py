"""One probe run: options, deadline, Resource/Context/Summary bases, output and its traces."""
