-- The course catalogue. ON CONFLICT: rerunning against a seeded database changes nothing.
INSERT INTO academy_courses (id, title, description, price_cents, seats) VALUES
    (1, 'Rust for Backend Engineers', 'Ownership to production services', 19900, 40),
    (2, 'Observability with OpenTelemetry', 'Traces, metrics and logs end to end', 14900, 30),
    (3, 'SLOs in Practice', 'Error budgets and burn-rate alerts', 9900, 25),
    (4, 'PostgreSQL Performance', 'Indexes, plans and pools', 12900, 35),
    (5, 'Incident Response', 'On-call that does not burn people out', 7900, 50)
ON CONFLICT (id) DO NOTHING;
