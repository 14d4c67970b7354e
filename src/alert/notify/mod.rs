//! Alert notifiers (webhook, Slack, PagerDuty, email, Alertmanager) behind a bounded queue.
