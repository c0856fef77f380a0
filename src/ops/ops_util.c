/*
 * ops_util.c - argument checks every prepare() needs, with uniform messages.
 */
#include "ops_util.h"

enum status ops_check_arity(const struct tensor *const *in, int n_in, int min_in, int max_in,
			    int n_out, int min_out, struct err *e)
{
	if (n_in < min_in || n_in > max_in) {
		if (min_in == max_in)
			return err_set(e, ERR_INVALID, "has %d inputs, expected %d", n_in, min_in);
		return err_set(e, ERR_INVALID, "has %d inputs, expected %d to %d", n_in, min_in,
			       max_in);
	}
	for (int i = 0; i < min_in; i++)
		if (!in[i])
			return err_set(e, ERR_INVALID, "required input %d is missing", i);
	if (n_out < min_out)
		return err_set(e, ERR_INVALID, "has %d outputs, expected at least %d", n_out,
			       min_out);
	return OK;
}

enum status ops_want_dtype(const struct tensor *t, const char *what, enum dtype want,
			   struct err *e)
{
	if (t->dtype != want)
		return err_set(e, ERR_UNSUPPORTED, "%s has type %s, only %s is supported", what,
			       dtype_name(t->dtype), dtype_name(want));
	return OK;
}
