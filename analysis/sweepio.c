/*
 * sweepio.c - sweep results as JSON and CSV, shard merging, the persisted
 * result cache (see sweepio.h for the definitions).
 *
 * Numbers: cJSON prints doubles with 15 significant digits whenever that
 * reads back *approximately* equal, which is not good enough for a cache
 * whose figures must equal a fresh run's, or for a merge that must equal the
 * unsharded sweep.  Every number is therefore written as raw text with the
 * shortest %.Ng (N = 15..17) that strtod reads back to the identical double;
 * cJSON's parser uses strtod, so reading is exact.
 *
 * The cache file holds a flat list of entries, each (kind, node, key,
 * values).  Its checksum is the SHA-256 of a header line plus the entries
 * encoded by the same encoder; a reader decodes, re-encodes and compares, so
 * a flipped digit, a truncated file or a hand edit all fail the check.
 */
#include "sweepio.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "sim.h"

#define FILE_MAX ((size_t)256 << 20)

/* ---- results ------------------------------------------------------------- */

void sweep_results_init(struct sweep_results *r)
{
	memset(r, 0, sizeof *r);
	r->base_cand = -1;
}

static void rows_free(struct sweep_row *rows, int n)
{
	for (int i = 0; rows && i < n; i++) {
		free(rows[i].name);
		free(rows[i].op);
	}
	free(rows);
}

void sweep_results_fini(struct sweep_results *r)
{
	if (!r)
		return;
	for (int i = 0; i < r->n_layers; i++)
		free(r->layers[i]);
	free(r->layers);
	rows_free(r->rows, r->n_rows);
	sweep_results_init(r);
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

/* Copy everything but layers and rows. */
static void copy_header(struct sweep_results *dst, const struct sweep_results *src)
{
	*dst = *src;
	dst->layers = NULL;
	dst->n_layers = 0;
	dst->rows = NULL;
	dst->n_rows = 0;
}

static enum status copy_layers(struct sweep_results *dst, const struct sweep_results *src,
			       struct err *e)
{
	dst->layers = calloc((size_t)src->n_layers + 1, sizeof *dst->layers);
	if (!dst->layers)
		return err_set(e, ERR_NOMEM, "out of memory");
	for (int i = 0; i < src->n_layers; i++) {
		if (!(dst->layers[i] = xstrdup(src->layers[i])))
			return err_set(e, ERR_NOMEM, "out of memory");
		dst->n_layers = i + 1;
	}
	return OK;
}

static enum status copy_row(struct sweep_row *d, const struct sweep_row *s, struct err *e)
{
	*d = *s;
	d->name = xstrdup(s->name);
	d->op = xstrdup(s->op);
	if (!d->name || !d->op)
		return err_set(e, ERR_NOMEM, "out of memory");
	return OK;
}

static enum status copy_rows(struct sweep_results *dst, const struct sweep_results *src, int k,
			     int n, struct err *e)
{
	dst->rows = calloc((size_t)src->n_rows + 1, sizeof *dst->rows);
	if (!dst->rows)
		return err_set(e, ERR_NOMEM, "out of memory");
	for (int i = 0; i < src->n_rows; i++) {
		if (n && !sweep_in_shard(src->rows[i].index, k, n))
			continue;
		enum status st = copy_row(&dst->rows[dst->n_rows], &src->rows[i], e);
		dst->n_rows++;
		if (st)
			return st;
	}
	return OK;
}

enum status sweep_results_copy(struct sweep_results *dst, const struct sweep_results *src,
			       struct err *e)
{
	copy_header(dst, src);
	enum status st = copy_layers(dst, src, e);
	if (!st)
		st = copy_rows(dst, src, 0, 0, e);
	if (st)
		sweep_results_fini(dst);
	return st;
}

bool sweep_in_shard(int i, int k, int n) { return n <= 0 || i % n == k - 1; }

enum status sweep_results_shard(struct sweep_results *dst, const struct sweep_results *src,
				int k, int n, struct err *e)
{
	if (n < 1 || k < 1 || k > n)
		return err_set(e, ERR_INVALID, "shard %d/%d is not K/N with 1 <= K <= N", k, n);
	copy_header(dst, src);
	dst->shard_k = k;
	dst->shard_n = n;
	enum status st = copy_layers(dst, src, e);
	if (!st)
		st = copy_rows(dst, src, k, n, e);
	if (st)
		sweep_results_fini(dst);
	return st;
}

enum status sweep_parse_shard(const char *text, int *k, int *n, struct err *e)
{
	char *end;
	errno = 0;
	long a = strtol(text, &end, 10);
	if (errno || end == text || *end != '/')
		goto bad;
	const char *t2 = end + 1;
	long b = strtol(t2, &end, 10);
	if (errno || end == t2 || *end || b < 1 || b > 100000 || a < 1 || a > b)
		goto bad;
	*k = (int)a;
	*n = (int)b;
	return OK;
bad:
	return err_set(e, ERR_INVALID, "'%s' is not a shard K/N with 1 <= K <= N (e.g. 2/4)", text);
}

const struct metrics_summary *sweep_base_iso(const struct sweep_results *res,
					     const struct sweep_row *r)
{
	if (res->base_cand >= 0)
		return r->cell[res->base_cand].has_iso ? &r->cell[res->base_cand].iso : NULL;
	return r->has_base_iso ? &r->base_iso : NULL;
}

int sweep_interaction(const struct sweep_results *res, const struct sweep_row *r)
{
	const struct metrics_summary *iso = sweep_base_iso(res, r);
	if (!iso || !r->has_remove)
		return 0;
	double loss = -iso->delta, h_loss = (iso->ci_hi - iso->ci_lo) / 2;
	double gain = r->remove_gain.delta, h_gain = (r->remove_gain.ci_hi - r->remove_gain.ci_lo) / 2;
	double gap = gain - loss;
	if (fabs(gap) > h_loss + h_gain && fabs(gap) >= 0.005)
		return gap > 0 ? 1 : -1;
	return 0;
}

void sweep_prec_key(const struct precision *p, int64_t calib_samples, int batch, char *buf,
		    size_t size)
{
	char cs[64];
	calib_spec_str(&p->acalib, cs, sizeof cs);
	if (precision_is_fp32(p)) {
		snprintf(buf, size, "fp32|b=%d", batch);
		return;
	}
	char blk[16] = "";
	if (p->wgran == QG_BLOCK)
		snprintf(blk, sizeof blk, "/%d", p->block);
	char n[24] = "all";
	if (calib_samples > 0)
		snprintf(n, sizeof n, "%lld", (long long)calib_samples);
	/* sim= : results of an older simulation semantics must not be reused (fp32
	 * runs simulate nothing, so their key has no revision) */
	snprintf(buf, size, "w=%s a=%s g=%s%s sym=%d acal=%s wcal=%s sim=%d|cs=%s|b=%d",
		 qfmt_info(p->wfmt)->name, qfmt_info(p->afmt)->name, qgran_name(p->wgran), blk,
		 p->act_symmetric ? 1 : 0, cs, calib_method_name(p->wcalib), SIM_SEMANTICS, n,
		 batch);
}

/* ---- numbers ------------------------------------------------------------------ */

/* Shortest %.Ng that reads back to exactly d. */
static void fmt_double(double d, char *buf, size_t size)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, size, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			return;
	}
}

static cJSON *jnum(double d)
{
	if (isnan(d))
		return cJSON_CreateNull();
	if (isinf(d))
		return cJSON_CreateString(d > 0 ? "inf" : "-inf");
	char buf[40];
	fmt_double(d, buf, sizeof buf);
	return cJSON_CreateRaw(buf);
}

static cJSON *jint(int64_t v)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%lld", (long long)v);
	return cJSON_CreateRaw(buf);
}

/* Add item to o; out-of-memory is caught once at the end (print fails). */
static void put(cJSON *o, const char *key, cJSON *item)
{
	if (item && !cJSON_AddItemToObject(o, key, item))
		cJSON_Delete(item);
}

static void push(cJSON *a, cJSON *item)
{
	if (item && !cJSON_AddItemToArray(a, item))
		cJSON_Delete(item);
}

static cJSON *jpair(double a, double b)
{
	cJSON *p = cJSON_CreateArray();
	if (p) {
		push(p, jnum(a));
		push(p, jnum(b));
	}
	return p;
}

static cJSON *summary_json(const struct metrics_summary *s)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	put(o, "n", jint(s->n));
	put(o, "fp32_top1", jnum(s->fp32_top1));
	put(o, "top1", jnum(s->top1));
	put(o, "delta", jnum(s->delta));
	put(o, "ci95", jpair(s->ci_lo, s->ci_hi));
	put(o, "p_value", jnum(s->p_value));
	put(o, "agreement", jnum(s->agreement));
	put(o, "sqnr_db", jnum(s->sqnr_db));
	put(o, "kl", jnum(s->kl));
	put(o, "within_noise", cJSON_CreateBool(s->within_noise));
	return o;
}

/* Reading, strictly: every getter fails on a missing key or a wrong type. */
static bool get_num(const cJSON *o, const char *key, double *out)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
	if (cJSON_IsNumber(x)) {
		*out = x->valuedouble;
		return isfinite(*out);
	}
	if (cJSON_IsString(x) && strcmp(x->valuestring, "inf") == 0) {
		*out = INFINITY;
		return true;
	}
	return false;
}

static bool get_finite(const cJSON *o, const char *key, double lo, double hi, double *out)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble) || x->valuedouble < lo ||
	    x->valuedouble > hi)
		return false;
	*out = x->valuedouble;
	return true;
}

static bool get_int(const cJSON *o, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
	double d;
	if (!get_finite(o, key, (double)lo, (double)hi, &d) || d != floor(d))
		return false;
	*out = (int64_t)d;
	return true;
}

static const char *get_str(const cJSON *o, const char *key, size_t max)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsString(x) || strlen(x->valuestring) >= max)
		return NULL;
	return x->valuestring;
}

static bool get_pair(const cJSON *o, const char *key, double *a, double *b)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsArray(x) || cJSON_GetArraySize(x) != 2)
		return false;
	const cJSON *p = cJSON_GetArrayItem(x, 0), *q = cJSON_GetArrayItem(x, 1);
	if (!cJSON_IsNumber(p) || !cJSON_IsNumber(q))
		return false;
	*a = p->valuedouble;
	*b = q->valuedouble;
	return isfinite(*a) && isfinite(*b) && *a <= *b;
}

static bool summary_from(const cJSON *o, int64_t samples, struct metrics_summary *s)
{
	if (!cJSON_IsObject(o))
		return false;
	memset(s, 0, sizeof *s);
	const cJSON *wn = cJSON_GetObjectItemCaseSensitive(o, "within_noise");
	if (!get_int(o, "n", 1, samples, &s->n) || s->n != samples ||
	    !get_finite(o, "fp32_top1", 0, 1, &s->fp32_top1) ||
	    !get_finite(o, "top1", 0, 1, &s->top1) || !get_finite(o, "delta", -1, 1, &s->delta) ||
	    !get_pair(o, "ci95", &s->ci_lo, &s->ci_hi) || s->ci_lo < -1 || s->ci_hi > 1 ||
	    !get_finite(o, "p_value", 0, 1, &s->p_value) ||
	    !get_finite(o, "agreement", 0, 1, &s->agreement) || !get_num(o, "sqnr_db", &s->sqnr_db) ||
	    !get_finite(o, "kl", 0, INFINITY, &s->kl) || !cJSON_IsBool(wn))
		return false;
	s->within_noise = cJSON_IsTrue(wn);
	/* internal consistency: a tampered figure rarely keeps these */
	return s->within_noise == (s->ci_lo <= 0 && s->ci_hi >= 0) && s->delta >= s->ci_lo - 1e-12 &&
	       s->delta <= s->ci_hi + 1e-12 && fabs(s->top1 - s->fp32_top1 - s->delta) < 1e-9;
}

/* ---- the sweep JSON ------------------------------------------------------------- */

static cJSON *strings_json(char (*v)[32], int n)
{
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; a && i < n; i++)
		push(a, cJSON_CreateString(v[i]));
	return a;
}

static cJSON *opt_summary(bool has, const struct metrics_summary *s)
{
	return has ? summary_json(s) : cJSON_CreateNull();
}

static cJSON *results_json(const struct sweep_results *r)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	put(o, "format", cJSON_CreateString("qlens-sweep"));
	put(o, "format_version", jint(1));
	put(o, "qlens_version", cJSON_CreateString(r->version));
	put(o, "bundle", cJSON_CreateString(r->bundle));
	put(o, "model_sha256", cJSON_CreateString(r->model_sha));
	put(o, "data_sha256", cJSON_CreateString(r->data_sha));
	cJSON *set = cJSON_CreateObject();
	if (set) {
		put(set, "candidates", strings_json((char (*)[32])r->cand, r->n_cands));
		cJSON *keys = cJSON_CreateArray();
		for (int c = 0; keys && c < r->n_cands; c++)
			push(keys, cJSON_CreateString(r->cand_key[c]));
		put(set, "candidate_keys", keys);
		put(set, "base", cJSON_CreateString(r->base));
		put(set, "base_key", cJSON_CreateString(r->base_key));
		put(set, "calib_method", cJSON_CreateString(r->calib));
		put(set, "calib_samples", jint(r->calib_samples));
		put(set, "batch", jint(r->batch));
	}
	put(o, "settings", set);
	put(o, "candidates", strings_json((char (*)[32])r->cand, r->n_cands));
	put(o, "base", cJSON_CreateString(r->base));
	put(o, "samples", jint(r->samples));
	put(o, "fp32_top1", r->has_fp32 ? jnum(r->fp32_top1) : cJSON_CreateNull());
	put(o, "base_top1", r->has_base ? jnum(r->base_run.top1) : cJSON_CreateNull());
	put(o, "base_delta", r->has_base ? jnum(r->base_run.delta) : cJSON_CreateNull());
	put(o, "base_ci95", r->has_base ? jpair(r->base_run.ci_lo, r->base_run.ci_hi)
					: cJSON_CreateNull());
	put(o, "base_run", opt_summary(r->has_base, &r->base_run));
	if (r->shard_n) {
		cJSON *sh = cJSON_CreateObject();
		if (sh) {
			put(sh, "k", jint(r->shard_k));
			put(sh, "n", jint(r->shard_n));
		}
		put(o, "shard", sh);
	} else {
		put(o, "shard", cJSON_CreateNull());
	}
	cJSON *layers = cJSON_CreateArray();
	for (int i = 0; layers && i < r->n_layers; i++)
		push(layers, cJSON_CreateString(r->layers[i]));
	put(o, "layers", layers);
	cJSON *rows = cJSON_CreateArray();
	put(o, "rows", rows);
	for (int i = 0; rows && i < r->n_rows; i++) {
		const struct sweep_row *w = &r->rows[i];
		int inter = sweep_interaction(r, w);
		for (int c = 0; c < r->n_cands; c++) {
			const struct sweep_cell *cl = &w->cell[c];
			cJSON *x = cJSON_CreateObject();
			if (!x)
				break;
			push(rows, x);
			put(x, "node", cJSON_CreateString(w->name));
			put(x, "op", cJSON_CreateString(w->op));
			put(x, "params", jint(w->params));
			put(x, "macs", jint(w->macs));
			put(x, "precision", cJSON_CreateString(r->cand[c]));
			put(x, "local_sqnr_db", cl->has_local ? jnum(cl->local_sqnr_db)
							      : cJSON_CreateNull());
			bool hi = cl->has_iso;
			put(x, "isolate_top1", hi ? jnum(cl->iso.top1) : cJSON_CreateNull());
			put(x, "isolate_delta", hi ? jnum(cl->iso.delta) : cJSON_CreateNull());
			put(x, "isolate_ci95", hi ? jpair(cl->iso.ci_lo, cl->iso.ci_hi)
						  : cJSON_CreateNull());
			put(x, "isolate_within_noise", hi ? cJSON_CreateBool(cl->iso.within_noise)
							  : cJSON_CreateNull());
			put(x, "isolate_agreement", hi ? jnum(cl->iso.agreement) : cJSON_CreateNull());
			put(x, "isolate_sqnr_db", hi ? jnum(cl->iso.sqnr_db) : cJSON_CreateNull());
			put(x, "isolate_kl", hi ? jnum(cl->iso.kl) : cJSON_CreateNull());
			bool hr = w->has_remove;
			const struct metrics_summary *g = &w->remove_gain;
			put(x, "remove_delta", hr ? jnum(g->delta) : cJSON_CreateNull());
			put(x, "remove_ci95", hr ? jpair(g->ci_lo, g->ci_hi) : cJSON_CreateNull());
			put(x, "remove_within_noise", hr ? cJSON_CreateBool(g->within_noise)
							 : cJSON_CreateNull());
			put(x, "remove_top1", hr ? jnum(w->remove.top1) : cJSON_CreateNull());
			put(x, "interaction", jint(inter));
			put(x, "isolate", opt_summary(hi, &cl->iso));
			put(x, "remove", opt_summary(hr, &w->remove));
			put(x, "remove_vs_base", opt_summary(hr, &w->remove_gain));
			put(x, "base_isolate", opt_summary(w->has_base_iso, &w->base_iso));
		}
	}
	return o;
}

char *sweepio_json(const struct sweep_results *r)
{
	cJSON *o = results_json(r);
	if (!o)
		return NULL;
	char *text = cJSON_Print(o);
	cJSON_Delete(o);
	return text;
}

/* ---- CSV --------------------------------------------------------------------------- */

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void sb_str(struct sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* RFC 4180 field: quoted when it holds a comma, quote or line break. */
static void sb_field(struct sbuf *b, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		sb_str(b, s);
		return;
	}
	sb_str(b, "\"");
	for (const char *p = s; *p; p++) {
		if (*p == '"')
			sb_str(b, "\"\"");
		else
			sb_add(b, p, 1);
	}
	sb_str(b, "\"");
}

static void sb_num(struct sbuf *b, bool has, double d)
{
	sb_str(b, ",");
	if (!has)
		return;
	char buf[40];
	if (isinf(d))
		snprintf(buf, sizeof buf, "%s", d > 0 ? "inf" : "-inf");
	else
		fmt_double(d, buf, sizeof buf);
	sb_str(b, buf);
}

char *sweepio_csv(const struct sweep_results *r)
{
	struct sbuf b = { 0 };
	sb_str(&b, "node,op,params,macs,precision,local_sqnr_db,isolate_top1,isolate_delta,"
		   "isolate_ci95_lo,isolate_ci95_hi,isolate_within_noise,isolate_agreement,"
		   "isolate_sqnr_db,isolate_kl,remove_top1,remove_delta,remove_ci95_lo,"
		   "remove_ci95_hi,remove_within_noise,interaction\n");
	for (int i = 0; i < r->n_rows; i++) {
		const struct sweep_row *w = &r->rows[i];
		int inter = sweep_interaction(r, w);
		for (int c = 0; c < r->n_cands; c++) {
			const struct sweep_cell *cl = &w->cell[c];
			char buf[96];
			sb_field(&b, w->name);
			sb_str(&b, ",");
			sb_field(&b, w->op);
			snprintf(buf, sizeof buf, ",%lld,%lld,", (long long)w->params,
				 (long long)w->macs);
			sb_str(&b, buf);
			sb_field(&b, r->cand[c]);
			sb_num(&b, cl->has_local, cl->local_sqnr_db);
			bool hi = cl->has_iso, hr = w->has_remove;
			sb_num(&b, hi, cl->iso.top1);
			sb_num(&b, hi, cl->iso.delta);
			sb_num(&b, hi, cl->iso.ci_lo);
			sb_num(&b, hi, cl->iso.ci_hi);
			sb_str(&b, hi ? (cl->iso.within_noise ? ",1" : ",0") : ",");
			sb_num(&b, hi, cl->iso.agreement);
			sb_num(&b, hi, cl->iso.sqnr_db);
			sb_num(&b, hi, cl->iso.kl);
			sb_num(&b, hr, w->remove.top1);
			sb_num(&b, hr, w->remove_gain.delta);
			sb_num(&b, hr, w->remove_gain.ci_lo);
			sb_num(&b, hr, w->remove_gain.ci_hi);
			sb_str(&b, hr ? (w->remove_gain.within_noise ? ",1" : ",0") : ",");
			snprintf(buf, sizeof buf, ",%d\n", inter);
			sb_str(&b, buf);
		}
	}
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* ---- reading a sweep JSON ------------------------------------------------------------ */

static int cand_index(const struct sweep_results *r, const char *name)
{
	for (int c = 0; c < r->n_cands; c++)
		if (strcmp(r->cand[c], name) == 0)
			return c;
	return -1;
}

static bool opt_summary_from(const cJSON *o, const char *key, int64_t samples, bool *has,
			     struct metrics_summary *s)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
	if (cJSON_IsNull(x)) {
		*has = false;
		return true;
	}
	*has = summary_from(x, samples, s);
	return *has;
}

static bool copy_str(char *dst, size_t size, const char *src)
{
	if (!src || strlen(src) >= size)
		return false;
	memcpy(dst, src, strlen(src) + 1);
	return true;
}

static enum status parse_results(const cJSON *o, struct sweep_results *r, struct err *e)
{
	const char *s;
	int64_t v;
#define BAD(...) return err_set(e, ERR_FORMAT, __VA_ARGS__)
	if (!cJSON_IsObject(o) || !(s = get_str(o, "format", 64)) || strcmp(s, "qlens-sweep"))
		BAD("not a qlens sweep file (\"format\": \"qlens-sweep\" missing)");
	if (!get_int(o, "format_version", 1, 1, &v))
		BAD("unsupported format_version (this qlens reads 1)");
	if (!copy_str(r->version, sizeof r->version, get_str(o, "qlens_version", 32)) ||
	    !copy_str(r->bundle, sizeof r->bundle, get_str(o, "bundle", 128)) ||
	    !copy_str(r->model_sha, sizeof r->model_sha, get_str(o, "model_sha256", SHA256_HEX)) ||
	    !copy_str(r->data_sha, sizeof r->data_sha, get_str(o, "data_sha256", SHA256_HEX)))
		BAD("qlens_version, bundle, model_sha256 or data_sha256 missing or malformed");
	const cJSON *set = cJSON_GetObjectItemCaseSensitive(o, "settings");
	const cJSON *cands = cJSON_GetObjectItemCaseSensitive(set, "candidates");
	const cJSON *keys = cJSON_GetObjectItemCaseSensitive(set, "candidate_keys");
	int nc = cJSON_GetArraySize(cands);
	if (!cJSON_IsObject(set) || !cJSON_IsArray(cands) || !cJSON_IsArray(keys) || nc < 1 ||
	    nc > SWEEP_MAX_CANDS || cJSON_GetArraySize(keys) != nc)
		BAD("settings.candidates / candidate_keys missing or malformed");
	r->n_cands = nc;
	for (int c = 0; c < nc; c++) {
		const cJSON *a = cJSON_GetArrayItem(cands, c), *k = cJSON_GetArrayItem(keys, c);
		if (!cJSON_IsString(a) || !cJSON_IsString(k) ||
		    !copy_str(r->cand[c], sizeof r->cand[c], a->valuestring) ||
		    !copy_str(r->cand_key[c], sizeof r->cand_key[c], k->valuestring))
			BAD("settings.candidates[%d] malformed", c);
	}
	if (!copy_str(r->base, sizeof r->base, get_str(set, "base", 32)) ||
	    !copy_str(r->base_key, sizeof r->base_key, get_str(set, "base_key", SWEEP_KEY_MAX)) ||
	    !copy_str(r->calib, sizeof r->calib, get_str(set, "calib_method", 64)) ||
	    !get_int(set, "calib_samples", 0, INT64_C(1) << 40, &r->calib_samples) ||
	    !get_int(set, "batch", 1, 1 << 20, &v))
		BAD("settings.base, base_key, calib_method, calib_samples or batch malformed");
	r->batch = (int)v;
	r->base_cand = -1;
	for (int c = 0; c < nc; c++)
		if (strcmp(r->cand_key[c], r->base_key) == 0)
			r->base_cand = c;
	if (!get_int(o, "samples", 1, INT64_C(1) << 40, &r->samples))
		BAD("samples missing or malformed");
	const cJSON *fp = cJSON_GetObjectItemCaseSensitive(o, "fp32_top1");
	r->has_fp32 = !cJSON_IsNull(fp);
	if (r->has_fp32 && !get_finite(o, "fp32_top1", 0, 1, &r->fp32_top1))
		BAD("fp32_top1 malformed");
	if (!opt_summary_from(o, "base_run", r->samples, &r->has_base, &r->base_run))
		BAD("base_run malformed");
	const cJSON *sh = cJSON_GetObjectItemCaseSensitive(o, "shard");
	int64_t k = 0, n = 0;
	if (!cJSON_IsNull(sh) && (!get_int(sh, "k", 1, 100000, &k) ||
				  !get_int(sh, "n", 1, 100000, &n) || k > n))
		BAD("shard must be null or {\"k\": K, \"n\": N} with 1 <= K <= N");
	r->shard_k = (int)k;
	r->shard_n = (int)n;
	const cJSON *layers = cJSON_GetObjectItemCaseSensitive(o, "layers");
	if (!cJSON_IsArray(layers))
		BAD("layers missing");
	int nl = cJSON_GetArraySize(layers);
	r->layers = calloc((size_t)nl + 1, sizeof *r->layers);
	r->rows = calloc((size_t)nl + 1, sizeof *r->rows);
	if (!r->layers || !r->rows)
		return err_set(e, ERR_NOMEM, "out of memory");
	for (int i = 0; i < nl; i++) {
		const cJSON *x = cJSON_GetArrayItem(layers, i);
		if (!cJSON_IsString(x))
			BAD("layers[%d] is not a string", i);
		if (!(r->layers[i] = xstrdup(x->valuestring)))
			return err_set(e, ERR_NOMEM, "out of memory");
		r->n_layers = i + 1;
		for (int j = 0; j < i; j++)
			if (strcmp(r->layers[j], r->layers[i]) == 0)
				BAD("layer '%s' is listed twice", x->valuestring);
	}
	const cJSON *rows = cJSON_GetObjectItemCaseSensitive(o, "rows");
	if (!cJSON_IsArray(rows))
		BAD("rows missing");
	/* rows come node by node, one per candidate, in layer order */
	bool *seen = calloc((size_t)nl * (size_t)nc + 1, sizeof *seen);
	int *row_of = malloc(((size_t)nl + 1) * sizeof *row_of);
	if (!seen || !row_of) {
		free(seen);
		free(row_of);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	for (int i = 0; i < nl; i++)
		row_of[i] = -1;
	enum status st = OK;
	int idx = 0;
	const cJSON *x;
	cJSON_ArrayForEach(x, rows) {
		const char *node = get_str(x, "node", 4096), *op = get_str(x, "op", 256);
		const char *prec = get_str(x, "precision", 32);
		int li = -1, c = prec ? cand_index(r, prec) : -1;
		for (int i = 0; node && i < nl && li < 0; i++)
			if (strcmp(r->layers[i], node) == 0)
				li = i;
		if (!node || !op || li < 0 || c < 0) {
			st = err_set(e, ERR_FORMAT, "rows[%d]: node, op or precision missing or unknown",
				     idx);
			break;
		}
		if (seen[(size_t)li * (size_t)nc + (size_t)c]) {
			st = err_set(e, ERR_FORMAT, "rows[%d]: node '%s' at %s appears twice", idx, node,
				     prec);
			break;
		}
		seen[(size_t)li * (size_t)nc + (size_t)c] = true;
		if (row_of[li] < 0) {
			if (r->n_rows > 0 && r->rows[r->n_rows - 1].index > li) {
				st = err_set(e, ERR_FORMAT, "rows[%d]: node '%s' out of layer order",
					     idx, node);
				break;
			}
			struct sweep_row *w = &r->rows[r->n_rows];
			row_of[li] = r->n_rows++;
			w->name = xstrdup(node);
			w->op = xstrdup(op);
			w->node = -1;
			w->index = li;
			if (!w->name || !w->op) {
				st = err_set(e, ERR_NOMEM, "out of memory");
				break;
			}
			if (!get_int(x, "params", 0, INT64_C(1) << 50, &w->params) ||
			    !get_int(x, "macs", 0, INT64_C(1) << 60, &w->macs) ||
			    !opt_summary_from(x, "remove", r->samples, &w->has_remove, &w->remove) ||
			    !opt_summary_from(x, "base_isolate", r->samples, &w->has_base_iso,
					      &w->base_iso)) {
				st = err_set(e, ERR_FORMAT, "rows[%d] ('%s'): params, macs, remove or "
					     "base_isolate malformed", idx, node);
				break;
			}
			bool hg = false;
			if (!opt_summary_from(x, "remove_vs_base", r->samples, &hg, &w->remove_gain) ||
			    hg != w->has_remove) {
				st = err_set(e, ERR_FORMAT, "rows[%d] ('%s'): remove_vs_base malformed",
					     idx, node);
				break;
			}
		} else if (row_of[li] != r->n_rows - 1) {
			st = err_set(e, ERR_FORMAT, "rows[%d]: the rows of node '%s' are not together",
				     idx, node);
			break;
		}
		struct sweep_cell *cl = &r->rows[row_of[li]].cell[c];
		const cJSON *ls = cJSON_GetObjectItemCaseSensitive(x, "local_sqnr_db");
		cl->has_local = !cJSON_IsNull(ls);
		if ((cl->has_local && !get_num(x, "local_sqnr_db", &cl->local_sqnr_db)) ||
		    !opt_summary_from(x, "isolate", r->samples, &cl->has_iso, &cl->iso)) {
			st = err_set(e, ERR_FORMAT, "rows[%d] ('%s' at %s): local_sqnr_db or isolate "
				     "malformed", idx, node, prec);
			break;
		}
		idx++;
	}
	/* every row of the file has all candidates */
	for (int i = 0; !st && i < r->n_rows; i++)
		for (int c = 0; c < nc; c++)
			if (!seen[(size_t)r->rows[i].index * (size_t)nc + (size_t)c]) {
				st = err_set(e, ERR_FORMAT, "node '%s' has no row for %s",
					     r->rows[i].name, r->cand[c]);
				break;
			}
	free(seen);
	free(row_of);
	return st;
#undef BAD
}

enum status sweepio_read_json(const char *path, struct sweep_results *r, struct err *e)
{
	sweep_results_init(r);
	void *buf;
	size_t len;
	enum status st = file_read_all(path, FILE_MAX, &buf, &len, e);
	if (st)
		return st;
	cJSON *o = cJSON_ParseWithLength(buf, len);
	free(buf);
	if (!o)
		return err_set(e, ERR_FORMAT, "%s: not valid JSON", path);
	st = parse_results(o, r, e);
	cJSON_Delete(o);
	if (st) {
		err_prefix(e, "%s", path);
		sweep_results_fini(r);
	}
	return st;
}

/* ---- merging shards ------------------------------------------------------------------ */

static bool same_settings(const struct sweep_results *a, const struct sweep_results *b,
			  const char **what)
{
	*what = NULL;
	if (strcmp(a->model_sha, b->model_sha))
		*what = "model (model_sha256)";
	else if (strcmp(a->data_sha, b->data_sha))
		*what = "data (data_sha256)";
	else if (strcmp(a->version, b->version))
		*what = "qlens version";
	else if (a->n_cands != b->n_cands)
		*what = "candidate list";
	else if (strcmp(a->base_key, b->base_key) || strcmp(a->base, b->base))
		*what = "base";
	else if (strcmp(a->calib, b->calib) || a->calib_samples != b->calib_samples)
		*what = "calibration";
	else if (a->batch != b->batch || a->samples != b->samples)
		*what = "batch or sample count";
	else if (a->n_layers != b->n_layers)
		*what = "layer list";
	if (*what)
		return false;
	for (int c = 0; c < a->n_cands; c++)
		if (strcmp(a->cand[c], b->cand[c]) || strcmp(a->cand_key[c], b->cand_key[c])) {
			*what = "candidate list";
			return false;
		}
	for (int i = 0; i < a->n_layers; i++)
		if (strcmp(a->layers[i], b->layers[i])) {
			*what = "layer list";
			return false;
		}
	if (a->has_fp32 != b->has_fp32 || (a->has_fp32 && a->fp32_top1 != b->fp32_top1)) {
		*what = "FP32 top-1";
		return false;
	}
	return true;
}

enum status sweepio_merge(const struct sweep_results *shards, int n, struct sweep_results *out,
			  struct err *e)
{
	sweep_results_init(out);
	if (n < 1)
		return err_set(e, ERR_INVALID, "nothing to merge");
	int N = shards[0].shard_n;
	for (int i = 0; i < n; i++) {
		const char *what;
		if (!shards[i].shard_n)
			return err_set(e, ERR_INVALID, "input %d is a whole sweep, not a shard", i + 1);
		if (shards[i].shard_n != N)
			return err_set(e, ERR_INVALID, "input %d is shard %d/%d but input 1 is of %d "
				       "shards", i + 1, shards[i].shard_k, shards[i].shard_n, N);
		if (i && !same_settings(&shards[0], &shards[i], &what))
			return err_set(e, ERR_INVALID, "input %d comes from another sweep than input "
				       "1: its %s differs", i + 1, what);
		for (int j = 0; j < i; j++)
			if (shards[j].shard_k == shards[i].shard_k)
				return err_set(e, ERR_INVALID, "inputs %d and %d are both shard %d/%d",
					       j + 1, i + 1, shards[i].shard_k, N);
		/* a shard holds exactly its slice */
		int expect = 0;
		for (int l = 0; l < shards[i].n_layers; l++)
			expect += sweep_in_shard(l, shards[i].shard_k, N);
		for (int r = 0; r < shards[i].n_rows; r++)
			if (!sweep_in_shard(shards[i].rows[r].index, shards[i].shard_k, N))
				return err_set(e, ERR_INVALID, "input %d (shard %d/%d) holds layer '%s' "
					       "of another shard", i + 1, shards[i].shard_k, N,
					       shards[i].rows[r].name);
		if (shards[i].n_rows != expect)
			return err_set(e, ERR_INVALID, "input %d (shard %d/%d) holds %d of its %d "
				       "layers", i + 1, shards[i].shard_k, N, shards[i].n_rows, expect);
	}
	if (n != N) {
		char missing[256] = "";
		for (int k = 1; k <= N && strlen(missing) < 200; k++) {
			bool found = false;
			for (int i = 0; i < n; i++)
				found |= shards[i].shard_k == k;
			if (!found)
				snprintf(missing + strlen(missing), sizeof missing - strlen(missing),
					 "%s%d/%d", missing[0] ? ", " : "", k, N);
		}
		return err_set(e, ERR_INVALID, "%d of %d shards given; missing %s", n, N, missing);
	}
	copy_header(out, &shards[0]);
	out->shard_k = out->shard_n = 0;
	for (int i = 0; i < n && !out->has_base; i++)
		if (shards[i].has_base) {
			out->has_base = true;
			out->base_run = shards[i].base_run;
		}
	enum status st = copy_layers(out, &shards[0], e);
	if (!st && !(out->rows = calloc((size_t)out->n_layers + 1, sizeof *out->rows)))
		st = err_set(e, ERR_NOMEM, "out of memory");
	for (int l = 0; !st && l < out->n_layers; l++) {
		const struct sweep_row *src = NULL;
		for (int i = 0; i < n && !src; i++)
			for (int r = 0; r < shards[i].n_rows && !src; r++)
				if (shards[i].rows[r].index == l)
					src = &shards[i].rows[r];
		st = copy_row(&out->rows[out->n_rows], src, e);
		out->n_rows++;
	}
	if (st)
		sweep_results_fini(out);
	return st;
}

/* ---- the persisted cache ------------------------------------------------------------------ */

enum ce_kind { CE_LOCAL, CE_ISOLATE, CE_REMOVE, CE_BASE };
static const char *const ce_names[] = { "local", "isolate", "remove", "base" };

struct centry {
	enum ce_kind kind;
	const char *node; /* "" for CE_BASE; borrowed */
	const char *key;  /* borrowed */
	double sqnr;
	struct metrics_summary m, gain;
};

struct clist {
	struct centry *v;
	int n, cap;
};

static bool cl_add(struct clist *l, const struct centry *c)
{
	if (l->n == l->cap) {
		int cap = l->cap ? l->cap * 2 : 64;
		struct centry *v = realloc(l->v, (size_t)cap * sizeof *v);
		if (!v)
			return false;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *c;
	return true;
}

static cJSON *entries_json(const struct clist *l)
{
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; a && i < l->n; i++) {
		const struct centry *c = &l->v[i];
		cJSON *o = cJSON_CreateObject();
		if (!o)
			break;
		push(a, o);
		put(o, "kind", cJSON_CreateString(ce_names[c->kind]));
		put(o, "node", cJSON_CreateString(c->node));
		put(o, "key", cJSON_CreateString(c->key));
		if (c->kind == CE_LOCAL)
			put(o, "sqnr_db", jnum(c->sqnr));
		else
			put(o, "m", summary_json(&c->m));
		if (c->kind == CE_REMOVE)
			put(o, "gain", summary_json(&c->gain));
	}
	return a;
}

struct cache_head {
	char version[32];
	char model_sha[SHA256_HEX], data_sha[SHA256_HEX];
	int64_t samples;
	bool has_fp32;
	double fp32_top1;
};

/* The checksum: header line plus the entries as this encoder writes them. */
static bool checksum(const struct cache_head *h, const struct clist *l, char out[SHA256_HEX])
{
	cJSON *a = entries_json(l);
	char *text = a ? cJSON_PrintUnformatted(a) : NULL;
	cJSON_Delete(a);
	if (!text)
		return false;
	char fp[40] = "none";
	if (h->has_fp32)
		fmt_double(h->fp32_top1, fp, sizeof fp);
	struct sha256 s;
	unsigned char d[SHA256_BYTES];
	char head[512];
	snprintf(head, sizeof head, "qlens-sweep-cache 1|%s|%s|%s|%lld|%s\n", h->version,
		 h->model_sha, h->data_sha, (long long)h->samples, fp);
	sha256_init(&s);
	sha256_update(&s, head, strlen(head));
	sha256_update(&s, text, strlen(text));
	sha256_final(&s, d);
	sha256_hex(d, out);
	free(text);
	return true;
}

/* Parse and check a cache file; on success *root owns the strings the
 * entries borrow.  Fills why[] on failure. */
static bool cache_parse(const char *text, size_t len, const struct cache_head *want,
			struct cache_head *h, struct clist *l, cJSON **root, char *why, size_t wsz)
{
	cJSON *o = cJSON_ParseWithLength(text, len);
	*root = o;
	const char *s;
	int64_t v;
	if (!o) {
		snprintf(why, wsz, "not valid JSON");
		return false;
	}
	if (!(s = get_str(o, "format", 64)) || strcmp(s, "qlens-sweep-cache") ||
	    !get_int(o, "format_version", 1, 1, &v)) {
		snprintf(why, wsz, "not a qlens sweep cache of format 1");
		return false;
	}
	memset(h, 0, sizeof *h);
	if (!copy_str(h->version, sizeof h->version, get_str(o, "qlens_version", 32)) ||
	    !copy_str(h->model_sha, sizeof h->model_sha, get_str(o, "model_sha256", SHA256_HEX)) ||
	    !copy_str(h->data_sha, sizeof h->data_sha, get_str(o, "data_sha256", SHA256_HEX)) ||
	    !get_int(o, "samples", 1, INT64_C(1) << 40, &h->samples)) {
		snprintf(why, wsz, "header malformed");
		return false;
	}
	if (strcmp(h->version, want->version)) {
		snprintf(why, wsz, "written by qlens %s, this is %s (stale)", h->version,
			 want->version);
		return false;
	}
	if (strcmp(h->model_sha, want->model_sha) || strcmp(h->data_sha, want->data_sha)) {
		snprintf(why, wsz, "made for another model or data (stale)");
		return false;
	}
	if (h->samples != want->samples) {
		snprintf(why, wsz, "made for %lld samples, the data has %lld (stale)",
			 (long long)h->samples, (long long)want->samples);
		return false;
	}
	const cJSON *fp = cJSON_GetObjectItemCaseSensitive(o, "fp32_top1");
	h->has_fp32 = !cJSON_IsNull(fp);
	if (h->has_fp32 && !get_finite(o, "fp32_top1", 0, 1, &h->fp32_top1)) {
		snprintf(why, wsz, "fp32_top1 malformed");
		return false;
	}
	const cJSON *entries = cJSON_GetObjectItemCaseSensitive(o, "entries"), *x;
	if (!cJSON_IsArray(entries)) {
		snprintf(why, wsz, "entries missing");
		return false;
	}
	int i = 0;
	cJSON_ArrayForEach(x, entries) {
		struct centry c = { 0 };
		const char *kind = get_str(x, "kind", 16);
		c.node = get_str(x, "node", 4096);
		c.key = get_str(x, "key", SWEEP_KEY_MAX);
		int k = -1;
		for (int j = 0; kind && j < 4; j++)
			if (strcmp(kind, ce_names[j]) == 0)
				k = j;
		bool ok = k >= 0 && c.node && c.key;
		c.kind = (enum ce_kind)k;
		if (ok && c.kind == CE_LOCAL)
			ok = get_num(x, "sqnr_db", &c.sqnr);
		else if (ok)
			ok = summary_from(cJSON_GetObjectItemCaseSensitive(x, "m"), h->samples, &c.m);
		if (ok && c.kind == CE_REMOVE)
			ok = summary_from(cJSON_GetObjectItemCaseSensitive(x, "gain"), h->samples,
					  &c.gain);
		if (!ok) {
			snprintf(why, wsz, "entry %d malformed", i);
			return false;
		}
		if (!cl_add(l, &c)) {
			snprintf(why, wsz, "out of memory");
			return false;
		}
		i++;
	}
	char sum[SHA256_HEX];
	if (!(s = get_str(o, "checksum", SHA256_HEX)) || !checksum(h, l, sum) || strcmp(s, sum)) {
		snprintf(why, wsz, "checksum mismatch (corrupt or edited)");
		return false;
	}
	return true;
}

static bool read_cache(const char *path, const struct cache_head *want, struct cache_head *h,
		       struct clist *l, cJSON **root, char *why, size_t wsz, bool *missing)
{
	*missing = false;
	*root = NULL;
	if (access(path, F_OK) != 0) {
		*missing = true;
		return false;
	}
	void *buf;
	size_t len;
	struct err e = { 0 };
	if (file_read_all(path, FILE_MAX, &buf, &len, &e)) {
		snprintf(why, wsz, "%s", e.msg);
		return false;
	}
	bool ok = cache_parse(buf, len, want, h, l, root, why, wsz);
	free(buf);
	return ok;
}

static void head_of(const struct sweep_results *r, struct cache_head *h)
{
	memset(h, 0, sizeof *h);
	snprintf(h->version, sizeof h->version, "%s", r->version);
	snprintf(h->model_sha, sizeof h->model_sha, "%s", r->model_sha);
	snprintf(h->data_sha, sizeof h->data_sha, "%s", r->data_sha);
	h->samples = r->samples;
	h->has_fp32 = r->has_fp32;
	h->fp32_top1 = r->fp32_top1;
}

static struct sweep_row *row_named(struct sweep_results *r, const char *name)
{
	for (int i = 0; i < r->n_rows; i++)
		if (strcmp(r->rows[i].name, name) == 0)
			return &r->rows[i];
	return NULL;
}

int sweepio_cache_load(const char *path, struct sweep_results *r, char *notice)
{
	struct cache_head want, h;
	struct clist l = { 0 };
	cJSON *root;
	char why[256];
	bool missing;
	notice[0] = 0;
	head_of(r, &want);
	if (!read_cache(path, &want, &h, &l, &root, why, sizeof why, &missing)) {
		if (!missing) {
			/* why may quote the file (its version): printable text only */
			snprintf(notice, SWEEP_NOTICE_MAX, "result cache %s ignored: %s", path, why);
			text_clean(notice);
		}
		cJSON_Delete(root);
		free(l.v);
		return 0;
	}
	/* every node named must exist: a cache of this model cannot say otherwise */
	for (int i = 0; i < l.n; i++)
		if (l.v[i].kind != CE_BASE && !row_named(r, l.v[i].node)) {
			snprintf(notice, SWEEP_NOTICE_MAX, "result cache %s ignored: it names node "
				 "'%.200s', which this model has not", path, l.v[i].node);
			text_clean(notice);
			cJSON_Delete(root);
			free(l.v);
			return 0;
		}
	int taken = 0;
	if (h.has_fp32 && !r->has_fp32) {
		r->has_fp32 = true;
		r->fp32_top1 = h.fp32_top1;
	}
	for (int i = 0; i < l.n; i++) {
		const struct centry *c = &l.v[i];
		if (c->kind == CE_BASE) {
			if (strcmp(c->key, r->base_key) == 0 && !r->has_base) {
				r->has_base = true;
				r->base_run = c->m;
				taken++;
			}
			continue;
		}
		struct sweep_row *w = row_named(r, c->node);
		if (c->kind == CE_REMOVE) {
			if (strcmp(c->key, r->base_key) == 0 && !w->has_remove) {
				w->has_remove = true;
				w->remove = c->m;
				w->remove_gain = c->gain;
				taken++;
			}
			continue;
		}
		for (int k = 0; k < r->n_cands; k++) {
			if (strcmp(c->key, r->cand_key[k]))
				continue;
			struct sweep_cell *cl = &w->cell[k];
			if (c->kind == CE_LOCAL && !cl->has_local) {
				cl->has_local = true;
				cl->local_sqnr_db = c->sqnr;
				taken++;
			} else if (c->kind == CE_ISOLATE && !cl->has_iso) {
				cl->has_iso = true;
				cl->iso = c->m;
				taken++;
			}
		}
		if (c->kind == CE_ISOLATE && r->base_cand < 0 && strcmp(c->key, r->base_key) == 0 &&
		    !w->has_base_iso) {
			w->has_base_iso = true;
			w->base_iso = c->m;
			taken++;
		}
	}
	cJSON_Delete(root);
	free(l.v);
	return taken;
}

static bool same_entry(const struct centry *a, const struct centry *b)
{
	return a->kind == b->kind && strcmp(a->node, b->node) == 0 && strcmp(a->key, b->key) == 0;
}

static enum status mkdir_p(const char *dir, struct err *e)
{
	char p[4096];
	snprintf(p, sizeof p, "%s", dir);
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s)
			continue;
		char c = *s;
		*s = 0;
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			return err_set(e, ERR_IO, "cannot create %s: %s", p, strerror(errno));
		*s = c;
		if (!c)
			break;
	}
	return OK;
}

enum status sweepio_cache_save(const char *path, const struct sweep_results *r, struct err *e)
{
	struct cache_head h;
	struct clist mine = { 0 }, old = { 0 }, all = { 0 };
	cJSON *root = NULL, *o = NULL;
	char why[256], *text = NULL, dir[4096];
	bool missing;
	enum status st = OK;
	head_of(r, &h);
#define ADD(l, ...)                                                       \
	do {                                                              \
		struct centry c_ = { __VA_ARGS__ };                       \
		if (!cl_add(l, &c_)) {                                    \
			st = err_set(e, ERR_NOMEM, "out of memory");       \
			goto done;                                         \
		}                                                         \
	} while (0)
	if (r->has_base)
		ADD(&mine, .kind = CE_BASE, .node = "", .key = r->base_key, .m = r->base_run);
	for (int i = 0; i < r->n_rows; i++) {
		const struct sweep_row *w = &r->rows[i];
		for (int c = 0; c < r->n_cands; c++) {
			if (w->cell[c].has_local)
				ADD(&mine, .kind = CE_LOCAL, .node = w->name, .key = r->cand_key[c],
				    .sqnr = w->cell[c].local_sqnr_db);
			if (w->cell[c].has_iso)
				ADD(&mine, .kind = CE_ISOLATE, .node = w->name, .key = r->cand_key[c],
				    .m = w->cell[c].iso);
		}
		if (w->has_base_iso)
			ADD(&mine, .kind = CE_ISOLATE, .node = w->name, .key = r->base_key,
			    .m = w->base_iso);
		if (w->has_remove)
			ADD(&mine, .kind = CE_REMOVE, .node = w->name, .key = r->base_key,
			    .m = w->remove, .gain = w->remove_gain);
	}
	/* keep what other settings left in the file (a bad file is replaced) */
	struct cache_head oh;
	if (read_cache(path, &h, &oh, &old, &root, why, sizeof why, &missing)) {
		if (!h.has_fp32 && oh.has_fp32) {
			h.has_fp32 = true;
			h.fp32_top1 = oh.fp32_top1;
		}
		for (int i = 0; i < old.n; i++) {
			bool dup = false;
			for (int j = 0; j < mine.n && !dup; j++)
				dup = same_entry(&old.v[i], &mine.v[j]);
			if (!dup)
				ADD(&all, .kind = old.v[i].kind, .node = old.v[i].node,
				    .key = old.v[i].key, .sqnr = old.v[i].sqnr, .m = old.v[i].m,
				    .gain = old.v[i].gain);
		}
	}
	for (int j = 0; j < mine.n; j++)
		ADD(&all, .kind = mine.v[j].kind, .node = mine.v[j].node, .key = mine.v[j].key,
		    .sqnr = mine.v[j].sqnr, .m = mine.v[j].m, .gain = mine.v[j].gain);
#undef ADD
	char sum[SHA256_HEX];
	o = cJSON_CreateObject();
	if (!o || !checksum(&h, &all, sum)) {
		st = err_set(e, ERR_NOMEM, "out of memory");
		goto done;
	}
	put(o, "format", cJSON_CreateString("qlens-sweep-cache"));
	put(o, "format_version", jint(1));
	put(o, "qlens_version", cJSON_CreateString(h.version));
	put(o, "model_sha256", cJSON_CreateString(h.model_sha));
	put(o, "data_sha256", cJSON_CreateString(h.data_sha));
	put(o, "samples", jint(h.samples));
	put(o, "fp32_top1", h.has_fp32 ? jnum(h.fp32_top1) : cJSON_CreateNull());
	put(o, "checksum", cJSON_CreateString(sum));
	put(o, "entries", entries_json(&all));
	if (!(text = cJSON_PrintUnformatted(o))) {
		st = err_set(e, ERR_NOMEM, "out of memory");
		goto done;
	}
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		if ((st = mkdir_p(dir, e)))
			goto done;
	}
	st = file_write_atomic(path, text, strlen(text), e);
done:
	free(text);
	cJSON_Delete(o);
	cJSON_Delete(root);
	free(mine.v);
	free(old.v);
	free(all.v);
	return st;
}

enum status sweepio_cache_dir(const char *dir, char *buf, size_t size, struct err *e)
{
	if (dir && *dir) {
		snprintf(buf, size, "%s", dir);
		return OK;
	}
	const char *x = getenv("XDG_CACHE_HOME");
	if (x && x[0] == '/') {
		snprintf(buf, size, "%s/qlens", x);
		return OK;
	}
	const char *home = getenv("HOME");
	if (!home || !*home)
		return err_set(e, ERR_INVALID, "neither XDG_CACHE_HOME nor HOME is set");
	snprintf(buf, size, "%s/.cache/qlens", home);
	return OK;
}

void sweepio_cache_path(const char *dir, const char *model_sha, const char *data_sha, char *buf,
			size_t size)
{
	snprintf(buf, size, "%s/%.16s-%.16s.json", dir, model_sha, data_sha);
}
