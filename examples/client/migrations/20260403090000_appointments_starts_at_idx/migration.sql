-- CreateIndex (built without blocking writes, in a job)
CREATE INDEX CONCURRENTLY "appointments_startsAt_idx" ON "appointments"("startsAt");
