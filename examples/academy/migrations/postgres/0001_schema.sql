-- The academy schema. IF NOT EXISTS: databases that ran the example before it used
-- migrations already hold these tables; the migration adopts them instead of failing.
CREATE TABLE IF NOT EXISTS academy_courses (
    id BIGINT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    price_cents BIGINT NOT NULL,
    seats BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS academy_enrollments (
    id BIGSERIAL PRIMARY KEY,
    course_id BIGINT NOT NULL REFERENCES academy_courses(id),
    email TEXT NOT NULL
);

-- Payment state. Defaults keep inserts that name only course and email valid.
ALTER TABLE academy_enrollments
    ADD COLUMN IF NOT EXISTS status TEXT NOT NULL DEFAULT 'confirmed',
    ADD COLUMN IF NOT EXISTS provider TEXT,
    ADD COLUMN IF NOT EXISTS payment_id TEXT,
    ADD COLUMN IF NOT EXISTS amount_cents BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS created_at TIMESTAMPTZ NOT NULL DEFAULT now();

CREATE INDEX IF NOT EXISTS academy_enrollments_course ON academy_enrollments (course_id);
