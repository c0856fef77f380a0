/*
 * bundle.h - a model with its calibration and evaluation data.
 *
 * A bundle is a folder with bundle.json (format "qlens-bundle", version 1)
 * naming the model, its input, the calibration data, the evaluation data and
 * labels, optional reference logits, the task and provenance.  Paths inside
 * bundle.json are relative to the folder.  A bare .onnx file is a bundle
 * too, with the data files given by the caller (bundle_set_data).
 *
 * bundle_open only reads and checks bundle.json (and that the named files
 * exist); the model and arrays are read by bundle_load_* when needed.
 */
#ifndef QLENS_BUNDLE_H
#define QLENS_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>

#include "graph.h"
#include "status.h"
#include "tensor.h"

struct bundle {
	char *dir;	   /* folder of the bundle (or of the .onnx file) */
	char *name;	   /* bundle name, or the model's file name */
	char *description;
	char *model_path;  /* resolved paths; NULL when not given */
	char *input_name;  /* NULL: the model's first input */
	char *calib_path;
	char *eval_path;
	char *labels_path;
	char *ref_logits_path;
	char *task;	   /* "classification" */
	char *metric;	   /* "top1" */
	char *preprocessing;
	double fp32_top1_eval; /* provenance, < 0 when absent */
	double fp32_top1_test;
	bool is_dir;
};

/* Open a bundle folder (reads bundle.json) or a bare .onnx file. */
enum status bundle_open(const char *path, struct bundle *b, struct err *e);
/* What bundle_open does with a folder's bundle.json, from memory: `text`
 * holds len bytes (no terminating NUL needed; a NUL inside is refused), `dir`
 * is the folder that paths are relative to (named files must exist there),
 * `label` names the source in errors.  On error *b is left empty. */
enum status bundle_parse_json(const char *text, size_t len, const char *dir, const char *label,
			      struct bundle *b, struct err *e);
/* Override or set data files (NULL leaves a field as it is). */
enum status bundle_set_data(struct bundle *b, const char *calib, const char *eval,
			    const char *labels, struct err *e);
void bundle_fini(struct bundle *b);

enum status bundle_load_model(const struct bundle *b, struct graph **g, struct err *e);
/* Evaluation images as float32 and labels as int64 (checked against each other). */
enum status bundle_load_eval(const struct bundle *b, struct tensor *data, struct tensor *labels,
			     struct err *e);
enum status bundle_load_calib(const struct bundle *b, struct tensor *data, struct err *e);
/* Index of the bundle's input among g->inputs; error when absent. */
enum status bundle_input_index(const struct bundle *b, const struct graph *g, int *index,
			       struct err *e);

#endif
