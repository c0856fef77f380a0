/*
 * ops_util.h - small helpers shared by operator implementations.
 * Internal to src/ops; not part of the core's public interface.
 */
#ifndef QLENS_OPS_UTIL_H
#define QLENS_OPS_UTIL_H

#include "graph.h"
#include "op.h"

/* Fail with ERR_INVALID unless min_in <= n_in <= max_in (absent trailing optional inputs
 * are counted as given by the model) and the first `required` inputs are non-NULL. */
enum status ops_check_arity(const struct tensor *const *in, int n_in, int min_in, int max_in,
			    int n_out, int min_out, struct err *e);
/* Fail with ERR_UNSUPPORTED unless in->dtype == want. */
enum status ops_want_dtype(const struct tensor *t, const char *what, enum dtype want,
			   struct err *e);

#endif
