/*
 * conformance.c - runs ONNX's own backend node tests through qlens' engine.
 *
 * Each folder of /usr/share/libonnx-testdata/data/node holds model.onnx and
 * test_data_set_N/{input,output}_K.pb.  For every folder we load the model,
 * plan it for the shapes of the stored inputs, run it and compare every
 * output with rtol 1e-4 / atol 1e-5 (exact for integers and bools).
 *
 * Outcomes: PASS; SKIP when loading or planning says ERR_UNSUPPORTED (an op,
 * element type or attribute value qlens does not implement - the reason is
 * printed); FAIL otherwise.  Folders listed in the expected-failures file
 * (one name per line, '#' comments giving the reason) are reported as XFAIL
 * and do not fail the run; an expected failure that passes is reported so
 * the list stays honest.  The last line is "N passed, N failed, N skipped".
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "exec.h"
#include "onnx_load.h"

#define MAX_IO 64

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static char **list_dir(const char *path, const char *prefix, int *n)
{
	DIR *d = opendir(path);
	*n = 0;
	if (!d)
		return NULL;
	char **v = NULL;
	int cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nv = realloc(v, (size_t)cap * sizeof *v);
			if (!nv)
				break;
			v = nv;
		}
		v[(*n)++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(v, (size_t)*n, sizeof *v, cmp_str);
	return v;
}

static void free_list(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static double get_as_double(const struct tensor *t, int64_t i)
{
	switch (t->dtype) {
	case DT_FLOAT: return ((const float *)t->data)[i];
	case DT_DOUBLE: return ((const double *)t->data)[i];
	case DT_FLOAT16: return half_to_float(((const uint16_t *)t->data)[i]);
	case DT_BFLOAT16: return bf16_to_float(((const uint16_t *)t->data)[i]);
	case DT_INT64: return (double)((const int64_t *)t->data)[i];
	case DT_INT32: return ((const int32_t *)t->data)[i];
	case DT_INT16: return ((const int16_t *)t->data)[i];
	case DT_INT8: return ((const int8_t *)t->data)[i];
	case DT_UINT8: return ((const uint8_t *)t->data)[i];
	case DT_UINT16: return ((const uint16_t *)t->data)[i];
	case DT_UINT32: return ((const uint32_t *)t->data)[i];
	case DT_UINT64: return (double)((const uint64_t *)t->data)[i];
	case DT_BOOL: return ((const uint8_t *)t->data)[i] ? 1 : 0;
	default: return NAN;
	}
}

static bool is_float(enum dtype t)
{
	return t == DT_FLOAT || t == DT_DOUBLE || t == DT_FLOAT16 || t == DT_BFLOAT16;
}

/* Compare got with want; on mismatch write a reason. */
static bool compare(const struct tensor *got, const struct tensor *want, char *why, size_t wn)
{
	char b1[128], b2[128];
	if (got->dtype != want->dtype) {
		snprintf(why, wn, "type %s, expected %s", dtype_name(got->dtype),
			 dtype_name(want->dtype));
		return false;
	}
	if (!shape_equal(&got->shape, &want->shape)) {
		snprintf(why, wn, "shape %s, expected %s", shape_str(&got->shape, b1, sizeof b1),
			 shape_str(&want->shape, b2, sizeof b2));
		return false;
	}
	int64_t n = tensor_numel(want);
	for (int64_t i = 0; i < n; i++) {
		double a = get_as_double(got, i), b = get_as_double(want, i);
		bool ok;
		if (is_float(want->dtype)) {
			if (isnan(b))
				ok = isnan(a);
			else if (isinf(b))
				ok = a == b;
			else
				ok = fabs(a - b) <= 1e-5 + 1e-4 * fabs(b);
		} else {
			ok = a == b;
		}
		if (!ok) {
			snprintf(why, wn, "element %lld is %.9g, expected %.9g", (long long)i, a, b);
			return false;
		}
	}
	return true;
}

enum outcome { PASS, FAIL, SKIP };

static enum outcome run_case(const char *dir, char *why, size_t wn)
{
	char path[4096];
	struct err e = { 0 };
	struct graph *g = NULL;
	snprintf(path, sizeof path, "%s/model.onnx", dir);
	enum status st = onnx_load_file(path, &g, &e);
	if (st) {
		snprintf(why, wn, "%s", e.msg);
		return st == ERR_UNSUPPORTED ? SKIP : FAIL;
	}
	enum outcome result = PASS;
	int n_sets = 0;
	char **sets = list_dir(dir, "test_data_set_", &n_sets);
	if (n_sets == 0) {
		snprintf(why, wn, "no test_data_set_* folders");
		result = FAIL;
	}
	for (int si = 0; si < n_sets && result == PASS; si++) {
		struct tensor in[MAX_IO] = { 0 }, want[MAX_IO] = { 0 };
		struct shape shapes[MAX_IO];
		struct plan *p = NULL;
		int n_in = g->n_inputs, n_out = g->n_outputs;
		if (n_in > MAX_IO || n_out > MAX_IO) {
			snprintf(why, wn, "too many inputs or outputs");
			result = FAIL;
			break;
		}
		for (int k = 0; k < n_in && result == PASS; k++) {
			snprintf(path, sizeof path, "%s/%s/input_%d.pb", dir, sets[si], k);
			if (onnx_load_tensor_file(path, &in[k], &e)) {
				snprintf(why, wn, "%s", e.msg);
				result = e.code == ERR_UNSUPPORTED ? SKIP : FAIL;
			}
			/* numpy has no bfloat16: ONNX stores such test data as uint16 */
			enum dtype decl = g->values[g->inputs[k]].dtype;
			if (result == PASS && in[k].dtype == DT_UINT16 && decl == DT_BFLOAT16)
				in[k].dtype = DT_BFLOAT16;
			shapes[k] = in[k].shape;
		}
		for (int k = 0; k < n_out && result == PASS; k++) {
			snprintf(path, sizeof path, "%s/%s/output_%d.pb", dir, sets[si], k);
			if (onnx_load_tensor_file(path, &want[k], &e)) {
				snprintf(why, wn, "%s", e.msg);
				result = e.code == ERR_UNSUPPORTED ? SKIP : FAIL;
			}
			enum dtype decl = g->values[g->outputs[k]].dtype;
			if (result == PASS && want[k].dtype == DT_UINT16 && decl == DT_BFLOAT16)
				want[k].dtype = DT_BFLOAT16;
		}
		/* The node tests feed shapes, axes, pads and scales as graph inputs;
		 * qlens plans shapes ahead of a run, so every input but the first is
		 * given to the planner as a constant (their values are known here). */
		const struct tensor *consts[MAX_IO] = { 0 };
		for (int k = 1; k < n_in; k++)
			consts[k] = &in[k];
		struct plan_opts po = { .const_inputs = consts };
		if (result == PASS) {
			st = plan_new(g, shapes, &po, &p, &e);
			if (st) {
				snprintf(why, wn, "%s", e.msg);
				result = st == ERR_UNSUPPORTED ? SKIP : FAIL;
			}
		}
		if (result == PASS && (st = plan_run(p, in, NULL, &e))) {
			snprintf(why, wn, "%s", e.msg);
			result = FAIL;
		}
		for (int k = 0; k < n_out && result == PASS; k++) {
			char w[256];
			if (!compare(plan_value(p, g->outputs[k]), &want[k], w, sizeof w)) {
				snprintf(why, wn, "%s: output '%s': %s", sets[si],
					 g->values[g->outputs[k]].name, w);
				result = FAIL;
			}
		}
		plan_free(p);
		for (int k = 0; k < MAX_IO; k++) {
			tensor_fini(&in[k]);
			tensor_fini(&want[k]);
		}
	}
	free_list(sets, n_sets);
	graph_free(g);
	return result;
}

static char **read_expected(const char *path, int *n)
{
	*n = 0;
	FILE *f = path ? fopen(path, "r") : NULL;
	if (!f)
		return NULL;
	char **v = NULL;
	int cap = 0;
	char line[1024];
	while (fgets(line, sizeof line, f)) {
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *s = line, *end;
		while (*s == ' ' || *s == '\t')
			s++;
		end = s + strlen(s);
		while (end > s && (end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (!*s)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 32;
			char **nv = realloc(v, (size_t)cap * sizeof *v);
			if (!nv)
				break;
			v = nv;
		}
		v[(*n)++] = strdup(s);
	}
	fclose(f);
	return v;
}

static bool listed(char **v, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(v[i], name) == 0)
			return true;
	return false;
}

int main(int argc, char **argv)
{
	const char *root = NULL, *filter = NULL, *expected = NULL;
	bool verbose = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc)
			filter = argv[++i];
		else if (strcmp(argv[i], "--expected-failures") == 0 && i + 1 < argc)
			expected = argv[++i];
		else if (strcmp(argv[i], "-v") == 0)
			verbose = true;
		else
			root = argv[i];
	}
	if (!root) {
		fprintf(stderr, "usage: qlens-conformance DIR [--filter SUBSTR] "
				"[--expected-failures FILE] [-v]\n");
		return 2;
	}
	exec_set_blas_threads(1);
	int n_cases = 0, n_exp = 0;
	char **cases = list_dir(root, "test_", &n_cases);
	char **exp = read_expected(expected, &n_exp);
	if (!cases) {
		fprintf(stderr, "qlens-conformance: %s: cannot read the folder\n", root);
		return 2;
	}
	int pass = 0, fail = 0, skip = 0, xfail = 0, xpass = 0;
	for (int i = 0; i < n_cases; i++) {
		if (filter && !strstr(cases[i], filter))
			continue;
		char dir[4096], why[1024] = "";
		snprintf(dir, sizeof dir, "%s/%s", root, cases[i]);
		enum outcome o = run_case(dir, why, sizeof why);
		bool xf = listed(exp, n_exp, cases[i]);
		switch (o) {
		case PASS:
			pass++;
			if (xf) {
				xpass++;
				printf("XPASS %s (listed as an expected failure)\n", cases[i]);
			} else if (verbose) {
				printf("PASS  %s\n", cases[i]);
			}
			break;
		case FAIL:
			if (xf) {
				xfail++;
				printf("XFAIL %s: %s\n", cases[i], why);
			} else {
				fail++;
				printf("FAIL  %s: %s\n", cases[i], why);
			}
			break;
		case SKIP:
			skip++;
			if (verbose)
				printf("SKIP  %s: %s\n", cases[i], why);
			break;
		}
		fflush(stdout);
	}
	printf("expected failures: %d, unexpected passes: %d\n", xfail, xpass);
	printf("%d passed, %d failed, %d skipped\n", pass, fail, skip);
	free_list(cases, n_cases);
	free_list(exp, n_exp);
	return fail || xpass ? 1 : 0;
}
