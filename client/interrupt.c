/*-------------------------------------------------------------------------
 *
 * interrupt.c
 *	  SIGINT and SIGTERM: set a flag that the loops check, and cancel the
 *	  query in flight (PQcancel is safe in a signal handler), so that
 *	  waiting for a job ends within one poll.
 *
 * client/interrupt.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_steward.h"

volatile sig_atomic_t interrupted = 0;

/* the cancel object of the current connection; set outside the handler */
static PGcancel *volatile cancel_conn = NULL;

static void
handle_signal(int signo)
{
	PGcancel   *c = cancel_conn;
	char		errbuf[256];

	(void) signo;
	interrupted = 1;
	if (c != NULL)
		(void) PQcancel(c, errbuf, sizeof(errbuf));
}

void
interrupt_setup(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handle_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* Remember conn's cancel object (NULL: forget the current one). */
void
interrupt_set_conn(PGconn *conn)
{
	PGcancel   *old = cancel_conn;

	cancel_conn = NULL;
	if (old)
		PQfreeCancel(old);
	if (conn)
		cancel_conn = PQgetCancel(conn);
}
