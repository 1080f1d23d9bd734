"""Jobs: the lifecycle (create, complete, cancel), the job list, one job's view and timeline."""
