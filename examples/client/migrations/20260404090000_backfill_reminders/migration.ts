// A data migration the application runs: pg_steward deploy lists it as
// skipped.
export async function up(): Promise<void> {}
