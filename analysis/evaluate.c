/*
 * evaluate.c - FP32 reference, calibration and metrics for the headless commands.
 */
#include "evaluate.h"

#include <cJSON.h>
#include <math.h>
#include <string.h>

enum status evaluator_init(struct evaluator *ev, const struct bundle *b, const struct graph *g,
			   int threads, int batch, struct err *e)
{
	memset(ev, 0, sizeof *ev);
	ev->g = g;
	ev->threads = threads;
	ev->batch = batch;
	enum status st;
	int in_idx;
	if ((st = bundle_input_index(b, g, &in_idx, e)))
		return st;
	if (g->n_inputs != 1)
		return err_set(e, ERR_UNSUPPORTED, "%s: models with %d inputs cannot be evaluated "
			       "(one image input is supported)", b->name, g->n_inputs);
	if (g->n_outputs < 1)
		return err_set(e, ERR_GRAPH, "%s: the model has no outputs", b->name);
	if ((st = bundle_load_eval(b, &ev->x, &ev->labels, e)))
		return st;
	if ((st = runner_new(g, threads, batch, &ev->r, e)))
		goto fail;
	struct tensor outs[64] = { 0 };
	if (g->n_outputs > 64) {
		st = err_set(e, ERR_LIMIT, "more than 64 outputs");
		goto fail;
	}
	if ((st = runner_run(ev->r, &ev->x, outs, e))) {
		err_prefix(e, "%s", b->model_path);
		goto fail;
	}
	ev->ref = outs[0];
	for (int k = 1; k < g->n_outputs; k++)
		tensor_fini(&outs[k]);
	if (ev->ref.shape.rank != 2 || ev->ref.dtype != DT_FLOAT) {
		char s[96];
		st = err_set(e, ERR_SHAPE, "%s: the first output has shape %s; classification needs "
			     "float logits [N, classes]", b->name,
			     shape_str(&ev->ref.shape, s, sizeof s));
		goto fail;
	}
	ev->classes = ev->ref.shape.dim[1];
	const int64_t *lab = ev->labels.data;
	for (int64_t i = 0; i < ev->labels.shape.dim[0]; i++)
		if (lab[i] < 0 || lab[i] >= ev->classes) {
			st = err_set(e, ERR_FORMAT, "%s: label %lld of sample %lld is outside 0..%lld",
				     b->labels_path, (long long)lab[i], (long long)i,
				     (long long)ev->classes - 1);
			goto fail;
		}
	return OK;
fail:
	evaluator_fini(ev);
	return st;
}

enum status evaluator_calibrate(struct evaluator *ev, const struct bundle *b, int64_t samples,
				struct err *e)
{
	struct tensor data;
	enum status st = bundle_load_calib(b, &data, e);
	if (st)
		return st;
	if (samples > 0 && samples < data.shape.dim[0]) {
		int64_t row = tensor_numel(&data) / data.shape.dim[0];
		data.shape.dim[0] = samples;
		data.nbytes = (size_t)(samples * row) * sizeof(float);
	}
	if (ev->have_cal)
		calib_data_fini(&ev->cal);
	st = calib_collect(ev->g, &data, ev->threads, ev->batch, &ev->cal, e);
	ev->have_cal = st == OK;
	tensor_fini(&data);
	if (st)
		err_prefix(e, "calibration");
	return st;
}

void evaluator_fini(struct evaluator *ev)
{
	if (!ev)
		return;
	runner_free(ev->r);
	tensor_fini(&ev->x);
	tensor_fini(&ev->labels);
	tensor_fini(&ev->ref);
	if (ev->have_cal)
		calib_data_fini(&ev->cal);
	memset(ev, 0, sizeof *ev);
}

enum status evaluator_run(struct evaluator *ev, const struct sim *s, struct metrics_summary *out,
			  struct err *e)
{
	struct tensor outs[64] = { 0 };
	enum status st = sim_run(s, ev->r, &ev->x, outs, e);
	if (st)
		return st;
	struct metrics m;
	metrics_init(&m);
	metrics_add(&m, ev->ref.data, outs[0].data, ev->labels.data, ev->ref.shape.dim[0],
		    ev->classes);
	metrics_summarize(&m, out);
	for (int k = 0; k < ev->g->n_outputs && k < 64; k++)
		tensor_fini(&outs[k]);
	return OK;
}

double evaluator_fp32_top1(const struct evaluator *ev)
{
	struct metrics m;
	struct metrics_summary s;
	metrics_init(&m);
	metrics_add(&m, ev->ref.data, ev->ref.data, ev->labels.data, ev->ref.shape.dim[0],
		    ev->classes);
	metrics_summarize(&m, &s);
	return s.fp32_top1;
}

char *eval_report_json(const struct metrics_summary *s, const struct sim *sim,
		       const struct eval_recipe *r)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "bundle", r->bundle);
	cJSON_AddStringToObject(o, "policy", r->policy);
	cJSON_AddStringToObject(o, "granularity", r->granularity);
	cJSON_AddStringToObject(o, "calib_method", r->calib_method);
	cJSON_AddNumberToObject(o, "calib_samples", (double)r->calib_samples);
	cJSON_AddNumberToObject(o, "samples", (double)s->n);
	cJSON_AddNumberToObject(o, "fp32_top1", s->fp32_top1);
	cJSON_AddNumberToObject(o, "top1", s->top1);
	cJSON_AddNumberToObject(o, "delta", s->delta);
	cJSON *ci = cJSON_AddArrayToObject(o, "ci95");
	cJSON_AddItemToArray(ci, cJSON_CreateNumber(s->ci_lo));
	cJSON_AddItemToArray(ci, cJSON_CreateNumber(s->ci_hi));
	cJSON_AddNumberToObject(o, "p_value", s->p_value);
	cJSON_AddBoolToObject(o, "within_noise", s->within_noise);
	cJSON_AddNumberToObject(o, "agreement", s->agreement);
	if (isfinite(s->sqnr_db))
		cJSON_AddNumberToObject(o, "sqnr_db", s->sqnr_db);
	else
		cJSON_AddNullToObject(o, "sqnr_db");
	cJSON_AddNumberToObject(o, "kl", s->kl);
	cJSON_AddNumberToObject(o, "weight_bytes", (double)sim->weight_bytes);
	cJSON_AddNumberToObject(o, "fp32_weight_bytes", (double)sim->fp32_weight_bytes);
	char *text = cJSON_Print(o);
	cJSON_Delete(o);
	return text;
}
