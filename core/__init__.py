"""Every business rule of the job-to-paid flow: models, jobs, invoicing, webhooks, reports."""
