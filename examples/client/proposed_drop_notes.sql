-- A change proposed in a pull request: the lint gate stops it while
-- appointments holds data.
ALTER TABLE "appointments" DROP COLUMN "notes";
