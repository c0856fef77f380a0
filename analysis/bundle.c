/*
 * bundle.c - reading bundle.json and the files it names.
 *
 * bundle.json is small and user-editable, so every key is checked for its
 * type and every named file for existence up front: a bundle that opens can
 * be used.  Unknown keys are ignored so that newer bundles still open.
 */
#include "bundle.h"

#include <cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "npy.h"
#include "onnx_load.h"

#define BUNDLE_JSON_MAX ((size_t)1 << 20)

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static char *join(const char *dir, const char *rel)
{
	if (rel[0] == '/')
		return strdup(rel);
	size_t n = strlen(dir) + strlen(rel) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, rel);
	return p;
}

static char *dirname_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

void bundle_fini(struct bundle *b)
{
	if (!b)
		return;
	free(b->dir);
	free(b->name);
	free(b->description);
	free(b->model_path);
	free(b->input_name);
	free(b->calib_path);
	free(b->eval_path);
	free(b->labels_path);
	free(b->ref_logits_path);
	free(b->task);
	free(b->metric);
	free(b->preprocessing);
	memset(b, 0, sizeof *b);
}

/* Messages quote names and paths from bundle.json and are printed to a
 * terminal: ASCII control characters (escape sequences) become '?'.
 * Returns st. */
static enum status clean_msg(enum status st, struct err *e)
{
	if (st && e)
		for (char *p = e->msg; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
	return st;
}

static enum status check_file(const char *label, const char *what, const char *path,
			      struct err *e)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return err_set(e, ERR_IO, "%s: %s '%s': %s", label, what, path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_set(e, ERR_FORMAT, "%s: %s '%s' is not a regular file", label, what, path);
	return OK;
}

/* Optional string member; ERR_FORMAT when present with another type. */
static enum status get_str(const cJSON *obj, const char *key, const char *label, const char **out,
			   struct err *e)
{
	*out = NULL;
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!it)
		return OK;
	if (!cJSON_IsString(it) || !it->valuestring)
		return err_set(e, ERR_FORMAT, "%s: '%s' must be a string", label, key);
	*out = it->valuestring;
	return OK;
}

static enum status get_obj(const cJSON *obj, const char *key, const char *label,
			   const cJSON **out, struct err *e)
{
	*out = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (*out && !cJSON_IsObject(*out))
		return err_set(e, ERR_FORMAT, "%s: '%s' must be an object", label, key);
	return OK;
}

/* A path member: resolved against dir, checked to exist. */
static enum status get_path(const cJSON *obj, const char *key, const char *keyname,
			    const char *label, const char *dir, char **out, struct err *e)
{
	/* the type error names the full key ("calibration.data", not "data") */
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!it)
		return OK;
	if (!cJSON_IsString(it) || !it->valuestring)
		return err_set(e, ERR_FORMAT, "%s: '%s' must be a string", label, keyname);
	const char *rel = it->valuestring;
	if (!rel[0])
		return err_set(e, ERR_FORMAT, "%s: '%s' is empty", label, keyname);
	*out = join(dir, rel);
	if (!*out)
		return err_set(e, ERR_NOMEM, "out of memory");
	return check_file(label, keyname, *out, e);
}

static enum status parse_json(struct bundle *b, const char *label, const char *text,
			      struct err *e)
{
	enum status st = OK;
	/* require_null_terminated: text after the object ("{...}}", two objects) is
	 * an error, not silently ignored; `where` also avoids cJSON's global error */
	const char *where = NULL;
	cJSON *root = cJSON_ParseWithOpts(text, &where, 1);
	const cJSON *it, *calib, *eval, *task, *prov;
	const char *s;
	if (!root) {
		int line = 1;
		for (const char *c = text; where && c < where && *c; c++)
			line += *c == '\n';
		return err_set(e, ERR_FORMAT, "%s: invalid JSON near line %d", label, line);
	}
	if (!cJSON_IsObject(root)) {
		st = err_set(e, ERR_FORMAT, "%s: the top level must be an object", label);
		goto done;
	}
	if ((st = get_str(root, "format", label, &s, e)))
		goto done;
	if (!s || strcmp(s, "qlens-bundle") != 0) {
		st = err_set(e, ERR_FORMAT, "%s: 'format' must be \"qlens-bundle\"", label);
		goto done;
	}
	it = cJSON_GetObjectItemCaseSensitive(root, "version");
	if (!cJSON_IsNumber(it) || it->valuedouble != 1) {
		st = err_set(e, ERR_FORMAT, "%s: 'version' must be 1", label);
		goto done;
	}
	if ((st = get_str(root, "model", label, &s, e)))
		goto done;
	if (!s) {
		st = err_set(e, ERR_FORMAT, "%s: 'model' is missing", label);
		goto done;
	}
	if ((st = get_path(root, "model", "model", label, b->dir, &b->model_path, e)))
		goto done;
	if ((st = get_str(root, "name", label, &s, e)))
		goto done;
	if (s) {
		free(b->name);
		b->name = strdup(s);
	}
	if ((st = get_str(root, "description", label, &s, e)))
		goto done;
	b->description = xstrdup(s);
	if ((st = get_str(root, "input", label, &s, e)))
		goto done;
	b->input_name = xstrdup(s);
	if ((st = get_str(root, "preprocessing", label, &s, e)))
		goto done;
	b->preprocessing = xstrdup(s);
	if ((st = get_obj(root, "calibration", label, &calib, e)))
		goto done;
	if (calib && (st = get_path(calib, "data", "calibration.data", label, b->dir,
				    &b->calib_path, e)))
		goto done;
	if ((st = get_obj(root, "evaluation", label, &eval, e)))
		goto done;
	if (eval) {
		if ((st = get_path(eval, "data", "evaluation.data", label, b->dir, &b->eval_path, e)))
			goto done;
		if ((st = get_path(eval, "labels", "evaluation.labels", label, b->dir,
				   &b->labels_path, e)))
			goto done;
	}
	if ((st = get_path(root, "reference_logits", "reference_logits", label, b->dir,
			   &b->ref_logits_path, e)))
		goto done;
	if ((st = get_obj(root, "task", label, &task, e)))
		goto done;
	if (task) {
		if ((st = get_str(task, "type", label, &s, e)))
			goto done;
		b->task = xstrdup(s);
		if ((st = get_str(task, "metric", label, &s, e)))
			goto done;
		b->metric = xstrdup(s);
		if (b->task && strcmp(b->task, "classification") != 0) {
			st = err_set(e, ERR_UNSUPPORTED, "%s: task type '%s' is not supported "
				     "(only \"classification\")", label, b->task);
			goto done;
		}
		if (b->metric && strcmp(b->metric, "top1") != 0) {
			st = err_set(e, ERR_UNSUPPORTED, "%s: metric '%s' is not supported "
				     "(only \"top1\")", label, b->metric);
			goto done;
		}
	}
	if ((st = get_obj(root, "provenance", label, &prov, e)))
		goto done;
	if (prov) {
		it = cJSON_GetObjectItemCaseSensitive(prov, "fp32_top1_eval");
		if (it && (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))) {
			st = err_set(e, ERR_FORMAT, "%s: 'provenance.fp32_top1_eval' must be a finite number",
				     label);
			goto done;
		}
		if (it)
			b->fp32_top1_eval = it->valuedouble;
		it = cJSON_GetObjectItemCaseSensitive(prov, "fp32_top1_test");
		if (it && (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))) {
			st = err_set(e, ERR_FORMAT, "%s: 'provenance.fp32_top1_test' must be a finite number",
				     label);
			goto done;
		}
		if (it)
			b->fp32_top1_test = it->valuedouble;
	}
done:
	cJSON_Delete(root);
	return st;
}

/* cJSON decodes "\u0000" into a NUL that silently ends the string: "a.onnx\u0000.txt"
 * would name a.onnx.  Backslashes occur only inside strings in valid JSON. */
static bool has_escaped_nul(const char *s)
{
	for (; *s; s++) {
		if (*s != '\\')
			continue;
		if (!s[1])
			break;
		if (s[1] == 'u' && strncmp(s + 2, "0000", 4) == 0)
			return true;
		s++; /* skip the escaped character: \\u0000 is a backslash, then text */
	}
	return false;
}

/* The folder's own name, also for "dir/" (NULL on out of memory). */
static char *folder_name(const char *path)
{
	const char *end = path + strlen(path);
	while (end > path + 1 && end[-1] == '/')
		end--;
	const char *base = end;
	while (base > path && base[-1] != '/')
		base--;
	return base < end ? strndup(base, (size_t)(end - base)) : strdup(path);
}

static void bundle_reset(struct bundle *b)
{
	memset(b, 0, sizeof *b);
	b->fp32_top1_eval = -1;
	b->fp32_top1_test = -1;
}

enum status bundle_parse_json(const char *text, size_t len, const char *dir, const char *label,
			      struct bundle *b, struct err *e)
{
	bundle_reset(b);
	b->is_dir = true;
	b->dir = strdup(dir);
	b->name = folder_name(dir);
	/* a private NUL-terminated copy: callers' buffers need not be terminated */
	char *copy = malloc(len + 1);
	enum status s;
	if (!b->dir || !b->name || !copy) {
		s = err_set(e, ERR_NOMEM, "out of memory");
	} else if (memchr(text, '\0', len)) {
		s = err_set(e, ERR_FORMAT, "%s: contains a NUL byte", label);
	} else {
		memcpy(copy, text, len);
		copy[len] = '\0';
		if (has_escaped_nul(copy))
			s = err_set(e, ERR_FORMAT, "%s: contains an escaped NUL (\\u0000)", label);
		else
			s = parse_json(b, label, copy, e);
	}
	free(copy);
	if (s)
		bundle_fini(b);
	return clean_msg(s, e);
}

enum status bundle_open(const char *path, struct bundle *b, struct err *e)
{
	bundle_reset(b);
	struct stat st;
	if (stat(path, &st) != 0)
		return err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
	enum status s = OK;
	/* "folder/bundle.json" names the bundle folder */
	size_t plen = strlen(path);
	if (S_ISREG(st.st_mode) && plen >= 11 && strcmp(path + plen - 11, "bundle.json") == 0 &&
	    (plen == 11 || path[plen - 12] == '/')) {
		char *dir = dirname_of(path);
		if (!dir)
			return err_set(e, ERR_NOMEM, "out of memory");
		s = bundle_open(dir, b, e);
		free(dir);
		return s;
	}
	if (S_ISDIR(st.st_mode)) {
		char *json = join(path, "bundle.json");
		if (!json)
			return err_set(e, ERR_NOMEM, "out of memory");
		void *text = NULL;
		size_t len = 0;
		s = file_read_all(json, BUNDLE_JSON_MAX, &text, &len, e);
		if (!s)
			s = bundle_parse_json(text, len, path, json, b, e);
		free(text);
		free(json);
		if (s)
			bundle_fini(b); /* refused: *b is all zeros, as before */
		return s;
	}
	if (S_ISREG(st.st_mode)) {
		b->dir = dirname_of(path);
		const char *base = strrchr(path, '/');
		b->name = strdup(base ? base + 1 : path);
		b->model_path = strdup(path);
		if (!b->dir || !b->name || !b->model_path)
			s = err_set(e, ERR_NOMEM, "out of memory");
	} else {
		s = err_set(e, ERR_FORMAT, "%s: neither a bundle folder nor a model file", path);
	}
	if (s)
		bundle_fini(b);
	return s;
}

enum status bundle_set_data(struct bundle *b, const char *calib, const char *eval,
			    const char *labels, struct err *e)
{
	const char *src[3] = { calib, eval, labels };
	char **dst[3] = { &b->calib_path, &b->eval_path, &b->labels_path };
	const char *what[3] = { "calibration data", "evaluation data", "labels" };
	for (int i = 0; i < 3; i++) {
		if (!src[i])
			continue;
		/* check_file's message is complete; errno may be stale (not a regular file) */
		enum status st = check_file(b->name ? b->name : src[i], what[i], src[i], e);
		if (st)
			return st;
		free(*dst[i]);
		*dst[i] = strdup(src[i]);
		if (!*dst[i])
			return err_set(e, ERR_NOMEM, "out of memory");
	}
	return OK;
}

enum status bundle_load_model(const struct bundle *b, struct graph **g, struct err *e)
{
	if (!b->model_path)
		return clean_msg(err_set(e, ERR_INVALID, "%s: the bundle names no model", b->name),
				 e);
	return onnx_load_file(b->model_path, g, e);
}

/* Read an array and convert it to float32 (the engine's input type). */
static enum status load_float(const char *path, struct tensor *out, struct err *e)
{
	*out = (struct tensor){ 0 }; /* tensor_fini(out) below must be safe if tensor_alloc fails */
	struct tensor t;
	enum status st = npy_read(path, &t, e);
	if (st)
		return st;
	if (t.dtype == DT_FLOAT) {
		*out = t;
		return OK;
	}
	st = tensor_alloc(out, DT_FLOAT, &t.shape, e);
	if (!st)
		st = convert_to_float(out->data, t.data, t.dtype, tensor_numel(&t), e);
	if (st) {
		tensor_fini(out);
		err_prefix(e, "%s", path);
	}
	tensor_fini(&t);
	return st;
}

enum status bundle_load_calib(const struct bundle *b, struct tensor *data, struct err *e)
{
	if (!b->calib_path)
		return clean_msg(err_set(e, ERR_INVALID, "%s: no calibration data (give --calib "
					 "FILE.npy)", b->name), e);
	enum status st = load_float(b->calib_path, data, e);
	if (!st && data->shape.rank < 1) {
		tensor_fini(data);
		st = err_set(e, ERR_SHAPE, "%s: calibration data must have a leading sample dimension",
			     b->calib_path);
	}
	return clean_msg(st, e);
}

static enum status load_eval(const struct bundle *b, struct tensor *data, struct tensor *labels,
			     struct err *e)
{
	if (!b->eval_path)
		return err_set(e, ERR_INVALID, "%s: no evaluation data (give --eval FILE.npy)",
			       b->name);
	if (!b->labels_path)
		return err_set(e, ERR_INVALID, "%s: no labels (give --labels FILE.npy)", b->name);
	enum status st = load_float(b->eval_path, data, e);
	if (st)
		return st;
	struct tensor raw;
	st = npy_read(b->labels_path, &raw, e);
	if (st)
		goto fail_data;
	if (raw.shape.rank != 1) {
		st = err_set(e, ERR_SHAPE, "%s: labels must be a 1-D array", b->labels_path);
		goto fail_raw;
	}
	if (data->shape.rank < 1 || data->shape.dim[0] != raw.shape.dim[0]) {
		st = err_set(e, ERR_SHAPE, "%s: %lld labels for %lld evaluation samples",
			     b->labels_path, (long long)raw.shape.dim[0],
			     (long long)(data->shape.rank ? data->shape.dim[0] : 0));
		goto fail_raw;
	}
	st = tensor_alloc(labels, DT_INT64, &raw.shape, e);
	if (st)
		goto fail_raw;
	int64_t n = raw.shape.dim[0];
	int64_t *dst = labels->data;
	for (int64_t i = 0; i < n; i++) {
		switch (raw.dtype) {
		case DT_INT64: dst[i] = ((int64_t *)raw.data)[i]; break;
		case DT_INT32: dst[i] = ((int32_t *)raw.data)[i]; break;
		case DT_UINT8: dst[i] = ((uint8_t *)raw.data)[i]; break;
		case DT_INT8: dst[i] = ((int8_t *)raw.data)[i]; break;
		case DT_INT16: dst[i] = ((int16_t *)raw.data)[i]; break;
		case DT_UINT16: dst[i] = ((uint16_t *)raw.data)[i]; break;
		case DT_UINT32: dst[i] = ((uint32_t *)raw.data)[i]; break;
		case DT_UINT64:
			if (((uint64_t *)raw.data)[i] > (uint64_t)INT64_MAX) {
				st = err_set(e, ERR_FORMAT, "%s: label %" PRIu64 " (index %lld) is out of range",
					     b->labels_path, ((uint64_t *)raw.data)[i], (long long)i);
				tensor_fini(labels);
				goto fail_raw;
			}
			dst[i] = (int64_t)((uint64_t *)raw.data)[i];
			break;
		default:
			st = err_set(e, ERR_FORMAT, "%s: labels must be integers, not %s",
				     b->labels_path, dtype_name(raw.dtype));
			tensor_fini(labels);
			goto fail_raw;
		}
	}
	tensor_fini(&raw);
	return OK;
fail_raw:
	tensor_fini(&raw);
fail_data:
	tensor_fini(data);
	return st;
}

enum status bundle_load_eval(const struct bundle *b, struct tensor *data, struct tensor *labels,
			     struct err *e)
{
	return clean_msg(load_eval(b, data, labels, e), e);
}

enum status bundle_input_index(const struct bundle *b, const struct graph *g, int *index,
			       struct err *e)
{
	if (g->n_inputs < 1)
		return clean_msg(err_set(e, ERR_GRAPH, "%s: the model has no inputs", b->name), e);
	if (!b->input_name) {
		*index = 0;
		return OK;
	}
	for (int i = 0; i < g->n_inputs; i++)
		if (strcmp(g->values[g->inputs[i]].name, b->input_name) == 0) {
			*index = i;
			return OK;
		}
	return clean_msg(err_set(e, ERR_GRAPH, "%s: the model has no input named '%s'", b->name,
				 b->input_name), e);
}
