/*-------------------------------------------------------------------------
 *
 * output.c
 *	  What the subcommands print and the files they read and write: usage
 *	  errors, server errors with their DETAIL and HINT, JSON strings,
 *	  aligned tables, and whole-file reads and atomic writes.
 *
 * client/output.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_steward.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* Report a usage error and exit with EXIT_USAGE. */
void
fail_usage(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry \"%s --help\" for more information.\n", progname);
	exit(EXIT_USAGE);
}

/* Print a failed result's error (message, DETAIL, HINT) to stderr. */
void
print_server_error(const char *what, const PGresult *res)
{
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (msg == NULL)
		msg = PQresultErrorMessage(res);
	fprintf(stderr, "%s: %s: %s", progname, what, msg);
	if (state)
		fprintf(stderr, " (SQLSTATE %s)", state);
	fputc('\n', stderr);
	if (detail)
		fprintf(stderr, "DETAIL:  %s\n", detail);
	if (hint)
		fprintf(stderr, "HINT:  %s\n", hint);
}

/* Append s to buf as a JSON string literal (null when s is NULL). */
void
append_json_string(PQExpBuffer buf, const char *s)
{
	const unsigned char *p;

	if (s == NULL)
	{
		appendPQExpBufferStr(buf, "null");
		return;
	}
	appendPQExpBufferChar(buf, '"');
	for (p = (const unsigned char *) s; *p; p++)
	{
		switch (*p)
		{
			case '"':
				appendPQExpBufferStr(buf, "\\\"");
				break;
			case '\\':
				appendPQExpBufferStr(buf, "\\\\");
				break;
			case '\n':
				appendPQExpBufferStr(buf, "\\n");
				break;
			case '\r':
				appendPQExpBufferStr(buf, "\\r");
				break;
			case '\t':
				appendPQExpBufferStr(buf, "\\t");
				break;
			default:
				if (*p < 0x20)
					appendPQExpBuffer(buf, "\\u%04x", *p);
				else
					appendPQExpBufferChar(buf, (char) *p);
		}
	}
	appendPQExpBufferChar(buf, '"');
}

/* display width of a UTF-8 string: one column per character */
static int
text_width(const char *s)
{
	int			w = 0;

	for (; *s; s++)
		if (((unsigned char) *s & 0xC0) != 0x80)
			w++;
	return w;
}

/*
 * Print the first ncols columns of res as an aligned table with the given
 * headers; a value's newlines are shown as spaces.
 */
void
print_table(const PGresult *res, const char *const *headers, int ncols)
{
	int			nrows = PQntuples(res);
	int		   *width = pg_malloc0(sizeof(int) * ncols);
	int			r,
				c;

	for (c = 0; c < ncols; c++)
		width[c] = text_width(headers[c]);
	for (r = 0; r < nrows; r++)
		for (c = 0; c < ncols; c++)
		{
			int			w = text_width(PQgetvalue(res, r, c));

			if (w > width[c])
				width[c] = w;
		}
	for (c = 0; c < ncols; c++)
		printf("%s%s%*s", c ? "  " : "", headers[c],
			   c < ncols - 1 ? width[c] - text_width(headers[c]) : 0, "");
	putchar('\n');
	for (c = 0; c < ncols; c++)
	{
		int			i;

		printf("%s", c ? "  " : "");
		for (i = 0; i < width[c]; i++)
			putchar('-');
	}
	putchar('\n');
	for (r = 0; r < nrows; r++)
	{
		for (c = 0; c < ncols; c++)
		{
			const char *v = PQgetvalue(res, r, c);
			const char *p;

			printf("%s", c ? "  " : "");
			for (p = v; *p; p++)
				putchar(*p == '\n' || *p == '\r' ? ' ' : *p);
			if (c < ncols - 1)
				printf("%*s", width[c] - text_width(v), "");
		}
		putchar('\n');
	}
	printf("(%d row%s)\n", nrows, nrows == 1 ? "" : "s");
	free(width);
}

bool
stdout_is_tty(void)
{
	return isatty(fileno(stdout)) == 1;
}

/*
 * Read a whole file of at most max bytes (0: no limit), NUL-terminated;
 * *len is its length, NUL bytes included.  NULL, with a message on stderr,
 * when it cannot be read or is larger.
 */
char *
file_read_bytes(const char *path, size_t max, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	PQExpBufferData buf;
	char		chunk[8192];
	size_t		got;

	if (f == NULL)
	{
		fprintf(stderr, "%s: could not open \"%s\": %s\n", progname, path, strerror(errno));
		return NULL;
	}
	initPQExpBuffer(&buf);
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
	{
		appendBinaryPQExpBuffer(&buf, chunk, got);
		if (max > 0 && buf.len > max)
		{
			fprintf(stderr, "%s: \"%s\" is larger than %zu bytes\n", progname, path, max);
			fclose(f);
			termPQExpBuffer(&buf);
			return NULL;
		}
	}
	if (ferror(f) || PQExpBufferBroken(&buf))
	{
		fprintf(stderr, "%s: could not read \"%s\": %s\n", progname, path,
				ferror(f) ? strerror(errno) : "out of memory");
		fclose(f);
		termPQExpBuffer(&buf);
		return NULL;
	}
	fclose(f);
	*len = buf.len;
	return buf.data;
}

/*
 * Read a whole text file; NULL (with a message on stderr) when it cannot be
 * read or holds a NUL byte, which no SQL text may contain.
 */
char *
file_read(const char *path, size_t *len)
{
	size_t		n;
	char	   *text = file_read_bytes(path, 0, &n);

	if (text == NULL)
		return NULL;
	if (strlen(text) != n)
	{
		fprintf(stderr, "%s: \"%s\" contains a NUL byte: not SQL text\n", progname, path);
		free(text);
		return NULL;
	}
	if (len)
		*len = n;
	return text;
}

/*
 * Write len bytes to path through path.tmp and a rename, so that the file
 * is either complete or untouched.
 */
bool
file_write_atomic_bytes(const char *path, const char *data, size_t len)
{
	PQExpBufferData tmp;
	FILE	   *f;
	bool		ok;

	initPQExpBuffer(&tmp);
	appendPQExpBuffer(&tmp, "%s.tmp", path);
	f = fopen(tmp.data, "w");
	if (f == NULL)
	{
		fprintf(stderr, "%s: could not write \"%s\": %s\n", progname, tmp.data, strerror(errno));
		termPQExpBuffer(&tmp);
		return false;
	}
	ok = fwrite(data, 1, len, f) == len;
	ok = (fflush(f) == 0) && ok;
	ok = (fsync(fileno(f)) == 0) && ok;
	ok = (fclose(f) == 0) && ok;
	if (ok && rename(tmp.data, path) != 0)
		ok = false;
	if (!ok)
	{
		fprintf(stderr, "%s: could not write \"%s\": %s\n", progname, path, strerror(errno));
		unlink(tmp.data);
	}
	termPQExpBuffer(&tmp);
	return ok;
}

/* Write text and a newline to path, as file_write_atomic_bytes. */
bool
file_write_atomic(const char *path, const char *text)
{
	PQExpBufferData buf;
	bool		ok;

	initPQExpBuffer(&buf);
	appendPQExpBuffer(&buf, "%s\n", text);
	if (PQExpBufferBroken(&buf))
	{
		fprintf(stderr, "%s: could not write \"%s\": out of memory\n", progname, path);
		ok = false;
	}
	else
		ok = file_write_atomic_bytes(path, buf.data, buf.len);
	termPQExpBuffer(&buf);
	return ok;
}
