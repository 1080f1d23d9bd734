"""What operators read: metrics for Prometheus."""
