-- The academy schema on SQLite (the default, in-memory database).
CREATE TABLE academy_courses (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    price_cents INTEGER NOT NULL,
    seats INTEGER NOT NULL
);

CREATE TABLE academy_enrollments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    course_id INTEGER NOT NULL REFERENCES academy_courses(id),
    email TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'confirmed',
    provider TEXT,
    payment_id TEXT,
    amount_cents INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX academy_enrollments_course ON academy_enrollments (course_id);
