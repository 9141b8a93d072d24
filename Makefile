# pg_steward: PGXS build.
#
#   make && sudo make install && make installcheck   (against a running server)
#
# scripts/test.sh and scripts/demo.sh install what is missing, build, start a
# throwaway cluster and run everything; see README.md.

EXTENSION    = pg_steward
MODULE_big   = pg_steward

# The install script of the default version (pg_steward.control) is built
# from the maintained SQL sources, one per area, concatenated in this order
# (each may use what the ones before it define; src/README.md, "SQL
# sources").  The 0.1.0 install script and the upgrade scripts are
# installed as they are, so that older versions can still be created and
# updated; an upgrade script carries only the changes of its version.
STEWARD_DIR  := $(patsubst %/,%,$(dir $(firstword $(MAKEFILE_LIST))))
EXTVERSION   := $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(STEWARD_DIR)/pg_steward.control)
SQL_SOURCES  = src/common/common.sql src/audit/audit.sql src/review/review.sql \
               src/jobs/jobs.sql src/migrations/migrations.sql src/privileges.sql
DATA         = pg_steward--0.1.0.sql $(sort $(notdir $(wildcard $(STEWARD_DIR)/pg_steward--*--*.sql)))
DATA_built   = pg_steward--$(EXTVERSION).sql
ifeq ($(EXTVERSION),)
$(error could not read default_version from $(STEWARD_DIR)/pg_steward.control)
endif
PGFILEDESC   = "pg_steward - safe schema migrations and a tamper-evident audit ledger"

OBJS = \
	src/pg_steward.o \
	src/compat.o \
	src/audit/append.o \
	src/audit/block.o \
	src/audit/digest.o \
	src/audit/epoch.o \
	src/audit/format.o \
	src/audit/insert.o \
	src/audit/jsontext.o \
	src/audit/manage.o \
	src/audit/proof.o \
	src/audit/seal.o \
	src/audit/sealer.o \
	src/audit/snapshot.o \
	src/audit/toast.o \
	src/audit/tree.o \
	src/audit/verify.o \
	src/audit/verify_parallel.o \
	src/audit/verify_read.o \
	src/common/args.o \
	src/common/bgworker.o \
	src/common/checksum.o \
	src/common/launch.o \
	src/common/recorder.o \
	src/common/ledger_rules.o \
	src/common/merkle.o \
	src/common/sha256.o \
	src/common/shmem.o \
	src/common/spi_util.o \
	src/common/statement.o \
	src/common/subxact.o \
	src/jobs/backfill.o \
	src/jobs/bulk.o \
	src/jobs/control.o \
	src/jobs/copy.o \
	src/jobs/copy_replayer.o \
	src/jobs/key.o \
	src/jobs/kinds.o \
	src/jobs/launcher.o \
	src/jobs/run.o \
	src/jobs/shmem.o \
	src/jobs/submit.o \
	src/jobs/validate_constraint.o \
	src/jobs/worker.o \
	src/migrations/apply.o \
	src/migrations/attempt.o \
	src/migrations/deferred.o \
	src/migrations/dryrun.o \
	src/migrations/expand.o \
	src/migrations/expand_derive.o \
	src/migrations/expand_require.o \
	src/migrations/expand_table.o \
	src/migrations/import.o \
	src/migrations/lock.o \
	src/migrations/repair.o \
	src/migrations/rollback.o \
	src/migrations/state.o \
	src/review/catalog.o \
	src/review/checks.o \
	src/review/expand_hint.o \
	src/review/keymap.o \
	src/review/lint.o \
	src/review/lint_api.o \
	src/review/rules.o \
	src/review/runtime_guard.o \
	src/review/silence.o \
	src/review/validate.o

PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS   = -Wall -Wextra -Werror -Wno-unused-parameter \
              -Wno-missing-field-initializers -Wno-sign-compare

# pg_regress (sql/, expected/)
REGRESS      = migrations_basic migrations_errors migrations_repair jobs jobs_migrations audit review review_corpus expand_contract review_hints
REGRESS_OPTS = --inputdir=$(srcdir) --load-extension=pg_steward

# isolation tester (test/isolation/specs, test/isolation/expected)
ISOLATION      = concurrent_apply jobs_control audit_concurrent review_nowait expand_contract
ISOLATION_OPTS = --inputdir=$(srcdir)/test/isolation --load-extension=pg_steward

# TAP (PostgreSQL::Test::Cluster): crashes, restarts
TAP_TESTS   = 1
PROVE_TESTS = test/t/*.pl

EXTRA_CLEAN = results tmp_check output_iso regression.diffs regression.out $(DATA_built).tmp

# pg_config comes from postgresql-server-dev-15; scripts/test.sh installs it.
PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifeq ($(PGXS),)
$(error pg_config not found: install postgresql-server-dev-15 (scripts/test.sh does) or set PG_CONFIG)
endif
include $(PGXS)

# Supported: PostgreSQL 15, the only major version the test suites run on
# (README.md).  Other versions may build (there are version guards) but
# nothing has tested them: say so instead of looking supported.
STEWARD_TESTED_MAJORS = 15
PG_MAJOR := $(shell $(PG_CONFIG) --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
ifeq ($(filter $(PG_MAJOR),$(STEWARD_TESTED_MAJORS)),)
$(warning pg_steward is tested on PostgreSQL $(STEWARD_TESTED_MAJORS) only; building for PostgreSQL $(PG_MAJOR), which no test has run on)
endif

# make dist: the release archive pg_steward-<version>.tar.gz (PGXN accepts
# it as it is), built from the source files only.
DIST_VERSION  = $(EXTVERSION)
DIST_NAME     = pg_steward-$(DIST_VERSION)
.PHONY: dist
dist:
	rm -f $(DIST_NAME).tar.gz
	tmp=$$(mktemp -d) && \
	tar -C $(srcdir) --transform 's,^\.,$(DIST_NAME),' \
		--exclude=.git --exclude=./results --exclude=./tmp_check \
		--exclude=./tmp_check_iso --exclude=./output_iso --exclude=./log \
		--exclude=./regression.diffs --exclude=./regression.out \
		--exclude='*.o' --exclude='*.so' --exclude='*.bc' --exclude='*.tar.gz' \
		--exclude=./$(DATA_built) --exclude=./client/pg_steward \
		-czf $$tmp/$(DIST_NAME).tar.gz . && \
	mv $$tmp/$(DIST_NAME).tar.gz . && rmdir $$tmp
	@echo "wrote $(DIST_NAME).tar.gz"

# the install script of the default version, generated (never edit it: edit
# the sources, and write the change into an upgrade script too)
$(DATA_built): $(addprefix $(srcdir)/,$(SQL_SOURCES)) $(srcdir)/pg_steward.control $(firstword $(MAKEFILE_LIST))
	{ printf '%s\n' '-- pg_steward $(EXTVERSION): install script.' '--' \
	    '-- GENERATED by make: the SQL sources below, concatenated in this order.' \
	    '-- Do not edit this file; edit the sources (src/README.md, "SQL sources").' '--'; \
	  for f in $(SQL_SOURCES); do printf -- '--   %s\n' "$$f"; done; \
	  printf '\n%s\n' '\echo Use "CREATE EXTENSION pg_steward" to load this file. \quit'; \
	  for f in $(SQL_SOURCES); do \
	    printf '\n-- %s\n-- %s\n-- %s\n\n' '--------------------------------------------------------------------------' "$$f" '--------------------------------------------------------------------------'; \
	    cat $(srcdir)/$$f || exit 1; \
	  done; } > $@.tmp && mv $@.tmp $@

# every object depends on the headers (PGXS tracks no header dependencies)
$(OBJS): $(wildcard $(srcdir)/src/*.h $(srcdir)/src/*/*.h)

# The command-line client (client/, docs/client.md): built by `make`,
# installed into PostgreSQL's bindir by `make install`, with the same
# PG_CONFIG.
.PHONY: client-all client-install client-clean client-uninstall
all: client-all
install: client-install
clean: client-clean
uninstall: client-uninstall
client-all:
	$(MAKE) -C $(srcdir)/client PG_CONFIG="$(PG_CONFIG)" all
client-install:
	$(MAKE) -C $(srcdir)/client PG_CONFIG="$(PG_CONFIG)" install
client-clean:
	$(MAKE) -C $(srcdir)/client PG_CONFIG="$(PG_CONFIG)" clean
client-uninstall:
	$(MAKE) -C $(srcdir)/client PG_CONFIG="$(PG_CONFIG)" uninstall
