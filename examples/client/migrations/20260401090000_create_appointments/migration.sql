-- CreateTable
CREATE TABLE "appointments" (
    "id" BIGINT GENERATED ALWAYS AS IDENTITY NOT NULL,
    "patient" TEXT NOT NULL,
    "startsAt" TIMESTAMPTZ NOT NULL,
    "notes" TEXT,

    CONSTRAINT "appointments_pkey" PRIMARY KEY ("id")
);
