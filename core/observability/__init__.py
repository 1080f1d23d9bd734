"""What operators read: metrics for Prometheus, and the logs."""
