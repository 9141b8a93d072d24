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
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

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
