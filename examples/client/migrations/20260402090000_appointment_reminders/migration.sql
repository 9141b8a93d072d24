-- Prisma wraps some migrations in a transaction of their own: pg_steward
-- runs every migration atomically already and absorbs the wrapper.
BEGIN;
-- AlterTable
ALTER TABLE "appointments" ADD COLUMN "reminderSent" BOOLEAN NOT NULL DEFAULT false;
COMMIT;
