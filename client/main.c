/*-------------------------------------------------------------------------
 *
 * main.c
 *	  pg_steward, the command-line client of the pg_steward extension:
 *	  option parsing and dispatch to the subcommands.
 *
 *	  pg_steward SUBCOMMAND [OPTION]... [ARG]...
 *
 * Every subcommand takes the connection options (-d, -h, -p, -U, -w, -W)
 * and --help, except check-proof and verify-export, which never connect; the others are
 * listed per subcommand in the table below and refused elsewhere.
 * docs/client.md is the reference.
 *
 * client/main.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_steward.h"

#include <getopt.h>

#include "common/logging.h"

const char *progname = "pg_steward";

/* the extension's default_version, passed by client/Makefile */
#ifndef PG_STEWARD_CLIENT_VERSION
#error "PG_STEWARD_CLIENT_VERSION is not defined: build with client/Makefile"
#endif

/* long-only options */
enum
{
	OPT_DRY_RUN = 256,
	OPT_TARGET,
	OPT_ALLOW,
	OPT_REASON,
	OPT_RESTORE_POINT,
	OPT_ALLOW_SKIPPED,
	OPT_OUT_OF_ORDER,
	OPT_LAYOUT,
	OPT_FORMAT,
	OPT_FAIL_ON,
	OPT_DIGEST,
	OPT_OLD_DIGEST,
	OPT_OUT,
	OPT_STATE,
	OPT_SIGN_KEY,
	OPT_PUBLIC_KEY,
	OPT_WITH_PAYLOAD,
	OPT_TIMEOUT,
	OPT_HELP,
	OPT_VERSION
};

static const struct option long_options[] = {
	{"dbname", required_argument, NULL, 'd'},
	{"host", required_argument, NULL, 'h'},
	{"port", required_argument, NULL, 'p'},
	{"username", required_argument, NULL, 'U'},
	{"no-password", no_argument, NULL, 'w'},
	{"password", no_argument, NULL, 'W'},
	{"verbose", no_argument, NULL, 'v'},
	{"dry-run", no_argument, NULL, OPT_DRY_RUN},
	{"target", required_argument, NULL, OPT_TARGET},
	{"allow", required_argument, NULL, OPT_ALLOW},
	{"reason", required_argument, NULL, OPT_REASON},
	{"restore-point", no_argument, NULL, OPT_RESTORE_POINT},
	{"allow-skipped", no_argument, NULL, OPT_ALLOW_SKIPPED},
	{"out-of-order", no_argument, NULL, OPT_OUT_OF_ORDER},
	{"layout", required_argument, NULL, OPT_LAYOUT},
	{"format", required_argument, NULL, OPT_FORMAT},
	{"fail-on", required_argument, NULL, OPT_FAIL_ON},
	{"digest", required_argument, NULL, OPT_DIGEST},
	{"old-digest", required_argument, NULL, OPT_OLD_DIGEST},
	{"out", required_argument, NULL, OPT_OUT},
	{"state", required_argument, NULL, OPT_STATE},
	{"sign-key", required_argument, NULL, OPT_SIGN_KEY},
	{"public-key", required_argument, NULL, OPT_PUBLIC_KEY},
	{"with-payload", no_argument, NULL, OPT_WITH_PAYLOAD},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0}
};

typedef struct Subcommand
{
	const char *name;
	const int  *options;		/* the options it takes besides the common ones */
	int			min_args;
	int			max_args;		/* -1: no limit */
	const char *synopsis;
	const char *help;
	bool		offline;		/* never connects: no connection options */
} Subcommand;

static const int deploy_opts[] = {OPT_DRY_RUN, OPT_TARGET, OPT_ALLOW, OPT_REASON,
	OPT_RESTORE_POINT, OPT_ALLOW_SKIPPED, OPT_OUT_OF_ORDER, OPT_LAYOUT, OPT_TIMEOUT, 0};
static const int lint_opts[] = {OPT_FORMAT, OPT_FAIL_ON, OPT_ALLOW, OPT_REASON, OPT_LAYOUT, 0};
static const int verify_opts[] = {OPT_DIGEST, OPT_STATE, OPT_PUBLIC_KEY, 0};
static const int digest_opts[] = {OPT_OUT, OPT_SIGN_KEY, 0};
static const int proof_opts[] = {OPT_DIGEST, OPT_OUT, OPT_WITH_PAYLOAD, 0};
static const int consistency_opts[] = {OPT_OLD_DIGEST, OPT_DIGEST, OPT_OUT, 0};
static const int check_proof_opts[] = {OPT_DIGEST, OPT_OLD_DIGEST, OPT_PUBLIC_KEY, 0};
static const int export_opts[] = {OPT_OUT, 0};
static const int verify_export_opts[] = {OPT_DIGEST, OPT_PUBLIC_KEY, 0};
static const int wait_opts[] = {OPT_TIMEOUT, 0};
static const int rollback_opts[] = {OPT_OUT_OF_ORDER, 0};
static const int no_opts[] = {0};

static const Subcommand subcommands[] = {
	{"deploy", deploy_opts, 1, 1, "deploy [OPTION]... DIR",
		"Apply every pending migration of DIR (Prisma, Flyway or up/down pairs) in order,\n"
		"waiting for the jobs of statements that refuse a transaction block.\n\n"
		"Options:\n"
		"      --dry-run              review and dry-run the pending migrations; change nothing\n"
		"      --target=VERSION       stop after VERSION\n"
		"      --allow=VERSION:RULE   accept a finding of RULE in VERSION (\"*\": every version);\n"
		"      --reason=TEXT            each --allow needs a --reason after it\n"
		"      --restore-point        pg_create_restore_point() before each migration\n"
		"                             (when archive_mode is on)\n"
		"      --allow-skipped        exit 0 although folders without SQL were skipped\n"
		"      --out-of-order         apply versions older than the newest applied one\n"
		"      --layout=LAYOUT        prisma, flyway or pairs (default: detected)\n"
		"      --timeout=SECONDS      give up waiting for a job after SECONDS (default: no limit)\n"},
	{"lint", lint_opts, 1, -1, "lint [OPTION]... FILE|DIR...",
		"Review migrations without applying them (steward.migrate_lint): a CI gate.\n\n"
		"Options:\n"
		"      --format=FORMAT        text (default), json, sarif or github\n"
		"      --fail-on=LEVEL        error (default), warning or none\n"
		"      --allow=VERSION:RULE   accept a finding (with --reason, as for deploy)\n"
		"      --reason=TEXT\n"
		"      --layout=LAYOUT        prisma, flyway or pairs for a DIR (default: detected)\n"},
	{"status", no_opts, 0, 0, "status [OPTION]...",
		"List the migrations the database knows (steward.migrate_status).\n"},
	{"history", no_opts, 1, 1, "history [OPTION]... VERSION",
		"List the events of one migration (steward.migrate_history).\n"},
	{"rollback", rollback_opts, 1, 1, "rollback [OPTION]... VERSION",
		"Run the stored down SQL of VERSION (steward.migrate_rollback).\n\n"
		"Options:\n"
		"      --out-of-order         roll back a version that is not the newest\n"},
	{"verify", verify_opts, 0, 0, "verify [OPTION]...",
		"Verify the audit ledger (steward.verify_audit_chain).\n\n"
		"Options:\n"
		"      --digest=FILE          a digest written by \"pg_steward digest\": the trusted head\n"
		"      --public-key=PUB.pem   trust the digest only with a valid signature FILE.sig\n"
		"      --state=FILE           check only what was sealed since the last valid run,\n"
		"                             then write the new head digest to FILE\n"},
	{"digest", digest_opts, 0, 0, "digest [OPTION]...",
		"Print the head digest of the audit ledger (steward.audit_digest).\n\n"
		"Options:\n"
		"      --out=FILE             write it to FILE (through a temporary file) instead\n"
		"      --sign-key=KEY.pem     also write FILE.sig, an Ed25519 signature of FILE\n"},
	{"proof", proof_opts, 1, 1, "proof [OPTION]... EVENT_ID",
		"Print the receipt of a sealed event (steward.audit_proof): its bytes and audit\n"
		"path to the tree root of a digest, checked later by \"pg_steward check-proof\".\n\n"
		"Options:\n"
		"      --digest=FILE          against this digest (default: the newest block)\n"
		"      --with-payload         include the payload and its salt\n"
		"      --out=FILE             write it to FILE (through a temporary file) instead\n"},
	{"consistency", consistency_opts, 0, 0, "consistency [OPTION]... --old-digest=FILE",
		"Print the proof that the ledger of a digest extends the ledger of an older\n"
		"digest (steward.audit_consistency), checked by \"pg_steward check-proof\".\n\n"
		"Options:\n"
		"      --old-digest=FILE      the older digest (required)\n"
		"      --digest=FILE          the newer digest (default: the newest block)\n"
		"      --out=FILE             write it to FILE (through a temporary file) instead\n"},
	{"check-proof", check_proof_opts, 1, 1, "check-proof [OPTION]... FILE --digest=FILE",
		"Check a receipt or a consistency proof against digest files, without a server\n"
		"(it never connects).\n\n"
		"Options:\n"
		"      --digest=FILE          the digest of the receipt, the newer one of a\n"
		"                             consistency proof (required)\n"
		"      --old-digest=FILE      the older digest of a consistency proof\n"
		"      --public-key=PUB.pem   trust each digest only with a valid signature FILE.sig\n",
	true},
	{"export", export_opts, 0, 0, "export [OPTION]...",
		"Write the whole audit ledger, taken in one snapshot, as one JSON-lines file:\n"
		"the head digest, the retention epochs, every block followed by its events,\n"
		"the events not sealed yet; checked later by \"pg_steward verify-export\".\n\n"
		"Options:\n"
		"      --out=FILE             write it to FILE (through a temporary file) instead\n"},
	{"verify-export", verify_export_opts, 1, 1, "verify-export [OPTION]... FILE",
		"Verify an export of the audit ledger by the rules of verify_audit_chain(),\n"
		"without a server (it never connects): print the first problem or\n"
		"\"no problem found\", what was checked and the head.\n\n"
		"Options:\n"
		"      --digest=FILE          a digest written by \"pg_steward digest\": its block must\n"
		"                             be in the export with its hash and tree root\n"
		"      --public-key=PUB.pem   trust the digest only with a valid signature FILE.sig\n",
	true},
	{"jobs", no_opts, 0, 0, "jobs [OPTION]...",
		"List the background jobs of the database (steward.job_status).\n"},
	{"wait", wait_opts, 1, 1, "wait [OPTION]... JOB",
		"Wait for a job to end, showing its progress.\n\n"
		"Options:\n"
		"      --timeout=SECONDS      give up after SECONDS (default: no limit)\n"},
	{NULL, NULL, 0, 0, NULL, NULL}
};

static void
print_common_help(void)
{
	printf("\nConnection options:\n"
		   "  -d, --dbname=DBNAME       database name, connection string or URI\n"
		   "  -h, --host=HOSTNAME       database server host or socket directory\n"
		   "  -p, --port=PORT           database server port\n"
		   "  -U, --username=USERNAME   user name to connect as\n"
		   "  -w, --no-password         never prompt for a password\n"
		   "  -W, --password            force a password prompt\n"
		   "\nOther options:\n"
		   "  -v, --verbose             show the server's notices and more detail\n"
		   "      --help                show this help, then exit\n"
		   "\nPGHOST, PGPORT, PGDATABASE, PGUSER and the other libpq variables apply;\n"
		   "the application name is \"pg_steward\" unless PGAPPNAME says otherwise.\n"
		   "Exit status: 0 ok, 1 findings or not applied, 2 usage, 3 connection,\n"
		   "4 could not check, 5 interrupted, 6 lint warnings (--fail-on warning).\n"
		   "Reference: docs/client.md\n");
}

static void
print_help(void)
{
	const Subcommand *s;

	printf("%s is the command-line client of the pg_steward extension.\n\n", progname);
	printf("Usage:\n  %s SUBCOMMAND [OPTION]... [ARG]...\n\nSubcommands:\n", progname);
	for (s = subcommands; s->name; s++)
		printf("  %s\n", s->synopsis);
	printf("\n\"%s SUBCOMMAND --help\" shows a subcommand's options.\n", progname);
	print_common_help();
}

static void
print_subcommand_help(const Subcommand *s)
{
	printf("Usage:\n  %s %s\n\n%s", progname, s->synopsis, s->help);
	if (s->offline)
		printf("\nOther options:\n"
			   "      --help                show this help, then exit\n"
			   "\nExit status: 0 valid, 1 not valid (or a digest not trusted), 2 usage,\n"
			   "4 could not check (a file that cannot be read or is malformed).\n"
			   "Reference: docs/client.md\n");
	else
		print_common_help();
}

static bool
option_allowed(const Subcommand *s, int code)
{
	const int  *o;

	for (o = s->options; *o; o++)
		if (*o == code)
			return true;
	return false;
}

static const char *
option_name(int code)
{
	const struct option *o;

	for (o = long_options; o->name; o++)
		if (o->val == code)
			return o->name;
	return "?";
}

static double
parse_seconds(const char *arg)
{
	char	   *end;
	double		v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno != 0 || end == arg || *end != '\0' || v < 0 || v > 86400.0 * 24)
		fail_usage("invalid --timeout \"%s\": a number of seconds from 0 to 2073600", arg);
	return v;
}

int
main(int argc, char **argv)
{
	ClientOptions opts;
	const Subcommand *sub = NULL;
	int			c;
	int			nargs;
	char	  **args;

	pg_logging_init(argv[0]);
	memset(&opts, 0, sizeof(opts));
	opts.fail_on = FAIL_ON_ERROR;
	opts.format = "text";

	if (argc < 2)
		fail_usage("no subcommand given");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-?") == 0 ||
		strcmp(argv[1], "help") == 0)
	{
		print_help();
		exit(EXIT_OK);
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)
	{
		printf("pg_steward (client) %s\n", PG_STEWARD_CLIENT_VERSION);
		exit(EXIT_OK);
	}
	for (sub = subcommands; sub->name; sub++)
		if (strcmp(sub->name, argv[1]) == 0)
			break;
	if (sub->name == NULL)
		fail_usage("unknown subcommand \"%s\"", argv[1]);

	/* parse what follows the subcommand */
	argv[1] = argv[0];
	argc--;
	argv++;
	optind = 1;
	while ((c = getopt_long(argc, argv, "d:h:p:U:wWv", long_options, NULL)) != -1)
	{
		if (c >= OPT_DRY_RUN && c < OPT_HELP && !option_allowed(sub, c))
			fail_usage("option --%s is not valid for \"%s\"", option_name(c), sub->name);
		if (sub->offline && c < OPT_DRY_RUN && strchr("dhpUwW", c))
			fail_usage("option -%c is not valid for \"%s\", which never connects", c, sub->name);
		switch (c)
		{
			case 'd':
				opts.dbname = optarg;
				break;
			case 'h':
				opts.host = optarg;
				break;
			case 'p':
				opts.port = optarg;
				break;
			case 'U':
				opts.username = optarg;
				break;
			case 'w':
				opts.prompt_password = -1;
				break;
			case 'W':
				opts.prompt_password = 1;
				break;
			case 'v':
				opts.verbose = true;
				break;
			case OPT_DRY_RUN:
				opts.dry_run = true;
				break;
			case OPT_TARGET:
				opts.target = optarg;
				break;
			case OPT_ALLOW:
				if (!allow_add_option(&opts.allows, optarg))
					fail_usage("invalid --allow \"%s\": expected VERSION:RULE", optarg);
				break;
			case OPT_REASON:
				if (!allow_set_reason(&opts.allows, optarg))
					fail_usage("--reason must follow an --allow that has no reason yet, and must not be blank");
				break;
			case OPT_RESTORE_POINT:
				opts.restore_point = true;
				break;
			case OPT_ALLOW_SKIPPED:
				opts.allow_skipped = true;
				break;
			case OPT_OUT_OF_ORDER:
				opts.out_of_order = true;
				break;
			case OPT_LAYOUT:
				if (strcmp(optarg, "prisma") != 0 && strcmp(optarg, "flyway") != 0 &&
					strcmp(optarg, "pairs") != 0)
					fail_usage("invalid --layout \"%s\": prisma, flyway or pairs", optarg);
				opts.layout = optarg;
				break;
			case OPT_FORMAT:
				if (!lint_format_known(optarg))
					fail_usage("invalid --format \"%s\": text, json, sarif or github", optarg);
				opts.format = optarg;
				break;
			case OPT_FAIL_ON:
				if (strcmp(optarg, "error") == 0)
					opts.fail_on = FAIL_ON_ERROR;
				else if (strcmp(optarg, "warning") == 0)
					opts.fail_on = FAIL_ON_WARNING;
				else if (strcmp(optarg, "none") == 0)
					opts.fail_on = FAIL_ON_NONE;
				else
					fail_usage("invalid --fail-on \"%s\": error, warning or none", optarg);
				break;
			case OPT_DIGEST:
				opts.digest_file = optarg;
				break;
			case OPT_OLD_DIGEST:
				opts.old_digest_file = optarg;
				break;
			case OPT_OUT:
				opts.out_file = optarg;
				break;
			case OPT_STATE:
				opts.state_file = optarg;
				break;
			case OPT_SIGN_KEY:
				opts.sign_key = optarg;
				break;
			case OPT_PUBLIC_KEY:
				opts.public_key = optarg;
				break;
			case OPT_WITH_PAYLOAD:
				opts.with_payload = true;
				break;
			case OPT_TIMEOUT:
				opts.timeout = parse_seconds(optarg);
				break;
			case OPT_HELP:
				print_subcommand_help(sub);
				exit(EXIT_OK);
			case OPT_VERSION:
				printf("pg_steward (client) %s\n", PG_STEWARD_CLIENT_VERSION);
				exit(EXIT_OK);
			default:
				/* getopt_long printed the problem */
				fprintf(stderr, "Try \"%s %s --help\" for more information.\n",
						progname, sub->name);
				exit(EXIT_USAGE);
		}
	}
	if (!allow_check_complete(&opts.allows))
		fail_usage("every --allow needs a --reason after it");

	nargs = argc - optind;
	args = argv + optind;
	if (nargs < sub->min_args)
		fail_usage("\"%s\" needs an argument: %s %s", sub->name, progname, sub->synopsis);
	if (sub->max_args >= 0 && nargs > sub->max_args)
		fail_usage("too many arguments for \"%s\" (first extra: \"%s\")", sub->name,
				   args[sub->max_args]);

	interrupt_setup();

	if (strcmp(sub->name, "deploy") == 0)
		return cmd_deploy(&opts, args[0]);
	if (strcmp(sub->name, "lint") == 0)
		return cmd_lint(&opts, nargs, args);
	if (strcmp(sub->name, "status") == 0)
		return cmd_status(&opts);
	if (strcmp(sub->name, "history") == 0)
		return cmd_history(&opts, args[0]);
	if (strcmp(sub->name, "rollback") == 0)
		return cmd_rollback(&opts, args[0]);
	if (strcmp(sub->name, "verify") == 0)
		return cmd_verify(&opts);
	if (strcmp(sub->name, "digest") == 0)
		return cmd_digest(&opts);
	if (strcmp(sub->name, "proof") == 0)
		return cmd_proof(&opts, args[0]);
	if (strcmp(sub->name, "consistency") == 0)
		return cmd_consistency(&opts);
	if (strcmp(sub->name, "check-proof") == 0)
		return cmd_check_proof(&opts, args[0]);
	if (strcmp(sub->name, "export") == 0)
		return cmd_export(&opts);
	if (strcmp(sub->name, "verify-export") == 0)
		return cmd_verify_export(&opts, args[0]);
	if (strcmp(sub->name, "jobs") == 0)
		return cmd_jobs(&opts);
	if (strcmp(sub->name, "wait") == 0)
		return cmd_wait(&opts, args[0]);
	return EXIT_USAGE;
}
