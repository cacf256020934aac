"""From a core's notification to a service-desk ticket."""
