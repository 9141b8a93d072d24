/*-------------------------------------------------------------------------
 *
 * expand.h
 *	  What the expand/contract files share: argument helpers, running SQL
 *	  as the caller, and the SQL of a table rename (expand_table.c) that
 *	  migrate_contract and migrate_abort (expand.c) apply.
 *
 * Words: a column expansion adds a new column next to an old one
 * (expand.c); a table rename expansion renames a table and leaves a view
 * under the old name (expand_table.c).  Both are rows of
 * steward.expansions, told apart by its kind ('column', 'table').
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_EXPAND_H
#define STEWARD_EXPAND_H

#include "access/attnum.h"
#include "fmgr.h"
#include "lib/stringinfo.h"

extern char *steward_expand_as_caller(const char *sql, int nargs, const char *const *args);
extern const char *steward_expand_timeout_arg(FunctionCallInfo fcinfo, int n);
extern char *steward_expand_retries_arg(FunctionCallInfo fcinfo, int n);
extern char *steward_expand_required_name(FunctionCallInfo fcinfo, int n, const char *argname);
extern void steward_expand_check_relation(Oid relid, bool allow_partitioned);
extern char *steward_expand_pending_on(Oid relid, const char *version);
extern char *steward_expand_pending_columns(Oid relid, const char *version, const char *cols);
extern char *steward_expand_dependents(Oid relid, AttrNumber attnum);
extern void steward_expand_apply(FunctionCallInfo fcinfo, int argn, const char *version,
								 const char *up_sql, const char *down_sql,
								 const char *description, const char *allow);
extern void steward_expand_refuse_pending(const char *version, const char *pending,
										  const char *what) pg_attribute_noreturn();
extern void steward_expand_refuse_pending_column(Oid relid, const char *column,
												 const char *new_name, const char *version);
extern Oid	steward_expand_relation_arg(FunctionCallInfo fcinfo, int n);
extern int32 steward_expand_batch_size_arg(FunctionCallInfo fcinfo, int n);
extern AttrNumber steward_expand_column_start(Oid relid, const char *column, const char *fn);
extern bool steward_expand_column_not_null(Oid relid, AttrNumber attnum);
extern struct Node *steward_expand_check_expression(const char *argname, const char *expr,
													const char *relname, const char *newcol,
													const char *newtype, Oid target,
													const char *targetname);
extern char *steward_expand_object_name(const char *prefix, const char *version);
extern char *steward_expand_row_value(const char *expr, const char *type);
extern char *steward_expand_dollar_tag(const char *a, const char *b);
extern char *steward_expand_backfill(Oid relid, const char *set_clause,
									 const char *where_clause, int32 batch_size);
extern void steward_expand_refuse_unfinished_backfill(const char *version, int64 job_id);

extern void steward_expand_require_equality(Oid type, const char *column);
extern char *steward_expand_sync_sql(StringInfo sql, const char *version, const char *sync_function,
									 const char *sync_name, const char *relname,
									 const char *new_column);
extern int64 steward_expand_count_as_author(const char *version, const char *author_name,
											const char *sql);
extern bool steward_expand_not_null_check(Oid relid, const char *conname, const char *column,
										  const char *version);
extern char *steward_expand_submit_backfill(Oid relid, const char *new_column, const char *up,
											const char *new_type, int32 batch_size);

/* expand_table.c */
extern char *steward_table_rename_contract_sql(const char *version, const char *view_name);

/* expand_require.c */
extern int64 steward_require_count_null(const char *version, const char *author,
										const char *relname, const char *column);
extern char *steward_require_contract_sql(const char *version, const char *author, Oid relid,
										  const char *relname, const char *column,
										  const char *fill_function, const char *fill_trigger,
										  int64 job_id);

#endif							/* STEWARD_EXPAND_H */
