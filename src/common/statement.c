/*-------------------------------------------------------------------------
 *
 * statement.c
 *	  The text of one statement of SQL that raw_parser() split.
 *
 * raw_parser() gives each statement a location and a length in the text it
 * was cut from: the location is 0 for the first statement and otherwise
 * just after the previous statement's ';' (so the white space between
 * statements belongs to the next one), and the length is 0 for a last
 * statement without a ';' (it runs to the end).  Migrations, the lint and
 * the runtime guard all show and record statements by this one reading of
 * those two numbers.
 *
 * It also owns the one rule for transaction control in migration SQL.  A
 * migration runs as one transaction, so a "wrapper" -- BEGIN (or START
 * TRANSACTION) without options at the start of a block and the COMMIT (or
 * END) that closes it, as tools write them around a file, once or several
 * times -- is absorbed: it is kept in the statement list but not run.  Any
 * other transaction control (ROLLBACK, SAVEPOINT, RELEASE, PREPARE
 * TRANSACTION, COMMIT AND CHAIN, a BEGIN with an isolation level or access
 * mode, a BEGIN inside a block, a COMMIT without BEGIN, a BEGIN never
 * committed) and anything that sets the running transaction's own
 * characteristics (SET TRANSACTION, SET transaction_isolation and kin) is
 * refused, because inside migrate_apply it would fail or change what
 * "atomic" means.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "miscadmin.h"
#include "nodes/parsenodes.h"

#include "pg_steward.h"

/*
 * Where a statement located at location, len bytes long (as raw_parser()
 * sets them), starts in sql once the white space before it is skipped.
 * *length is set to the number of bytes from there to its end.
 */
int
steward_statement_start(const char *sql, int location, int len, int *length)
{
	int			start = location > 0 ? location : 0;

	if (len <= 0)
		len = (int) strlen(sql + start);
	while (len > 0 && isspace((unsigned char) sql[start]))
		start++, len--;
	*length = len;
	return start;
}

/*
 * Where the first token of a statement located at location, len bytes long,
 * is: white space and the comments in front of it (-- to the end of the
 * line, and nested block comments) are skipped.  Returns location + len
 * when nothing but those is there.
 */
int
steward_statement_first_token(const char *sql, int location, int len)
{
	int			start = steward_statement_start(sql, location, len, &len);
	int			end = start + len;

	while (start < end)
	{
		if (isspace((unsigned char) sql[start]))
			start++;
		else if (sql[start] == '-' && start + 1 < end && sql[start + 1] == '-')
		{
			while (start < end && sql[start] != '\n')
				start++;
		}
		else if (sql[start] == '/' && start + 1 < end && sql[start + 1] == '*')
		{
			int			depth = 1;

			start += 2;
			while (start < end && depth > 0)
			{
				if (sql[start] == '/' && start + 1 < end && sql[start + 1] == '*')
					depth++, start += 2;
				else if (sql[start] == '*' && start + 1 < end && sql[start + 1] == '/')
					depth--, start += 2;
				else
					start++;
			}
		}
		else
			break;
	}
	return start;
}

/*
 * A copy of the statement's text, without the white space around it.
 */
char *
steward_statement_text(const char *sql, int location, int len)
{
	int			start = steward_statement_start(sql, location, len, &len);

	while (len > 0 && isspace((unsigned char) sql[start + len - 1]))
		len--;
	return pnstrdup(sql + start, len);
}

/* a SET of the running transaction's own characteristics */
static bool
sets_transaction(Node *stmt)
{
	VariableSetStmt *vs;

	if (!IsA(stmt, VariableSetStmt))
		return false;
	vs = (VariableSetStmt *) stmt;
	if (vs->name == NULL || vs->kind == VAR_RESET || vs->kind == VAR_RESET_ALL)
		return false;
	return strcmp(vs->name, "TRANSACTION") == 0 ||
		strcmp(vs->name, "TRANSACTION SNAPSHOT") == 0 ||
		strcmp(vs->name, "transaction_isolation") == 0 ||
		strcmp(vs->name, "transaction_read_only") == 0 ||
		strcmp(vs->name, "transaction_deferrable") == 0;
}

/*
 * Classify the transaction control of a list of RawStmt (see the header):
 * returns one StewardTxClass per statement, and in why[i] (when not NULL)
 * what is wrong with each refused one.  One pass; linear in the list.
 */
StewardTxClass *
steward_classify_transaction_control(List *raw, const char ***why)
{
	int			n = list_length(raw);
	StewardTxClass *cls = palloc0(sizeof(StewardTxClass) * Max(n, 1));
	const char **reasons = palloc0(sizeof(char *) * Max(n, 1));
	int			open_begin = -1;	/* index of the BEGIN of an open block */
	int			i = 0;
	ListCell   *lc;

	foreach(lc, raw)
	{
		Node	   *stmt = lfirst_node(RawStmt, lc)->stmt;

		CHECK_FOR_INTERRUPTS();
		cls[i] = STEWARD_TX_NONE;
		if (sets_transaction(stmt))
		{
			cls[i] = STEWARD_TX_REFUSED;
			reasons[i] = "it sets the characteristics of the migration's own transaction, "
				"which has already started";
		}
		else if (IsA(stmt, TransactionStmt))
		{
			TransactionStmt *ts = (TransactionStmt *) stmt;

			cls[i] = STEWARD_TX_REFUSED;
			switch (ts->kind)
			{
				case TRANS_STMT_BEGIN:
				case TRANS_STMT_START:
					if (ts->options != NIL)
						reasons[i] = "a transaction with its own isolation level or access mode "
							"cannot be absorbed into the migration's transaction";
					else if (open_begin >= 0)
						reasons[i] = "BEGIN inside BEGIN ... COMMIT";
					else
					{
						cls[i] = STEWARD_TX_WRAPPER;
						open_begin = i;
					}
					break;
				case TRANS_STMT_COMMIT:
					if (ts->chain)
						reasons[i] = "COMMIT AND CHAIN starts a new transaction";
					else if (open_begin < 0)
						reasons[i] = "COMMIT without BEGIN";
					else
					{
						cls[i] = STEWARD_TX_WRAPPER;
						open_begin = -1;
					}
					break;
				default:
					reasons[i] = "only BEGIN ... COMMIT around the whole of a block is absorbed";
					break;
			}
		}
		i++;
	}
	if (open_begin >= 0)
	{
		cls[open_begin] = STEWARD_TX_REFUSED;
		reasons[open_begin] = "BEGIN without COMMIT";
	}
	if (why)
		*why = reasons;
	return cls;
}
