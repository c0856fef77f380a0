/*
 * sweepio.h - sensitivity sweep results: the table, its JSON and CSV forms,
 * shards and their merge, and the persisted result cache.
 *
 * One row per sweepable node (ONNX node name), one cell per candidate
 * precision.  Definitions (quantization.md):
 *   local    - the node's output SQNR (dB) when its inputs are exact FP32;
 *   isolate  - only this node at the candidate, the rest FP32: top-1 delta
 *              against FP32 with its exact paired 95% interval (metrics.h),
 *              agreement, logit SQNR, KL;
 *   remove   - every node at the base precision except this one (FP32): the
 *              metric recovered, remove top-1 minus all-base top-1, paired
 *              against the all-base run (exact 95% interval); the all-base
 *              run's own delta against FP32 is reported once (`base`).
 * A delta whose interval contains 0 is "within noise".
 *
 * Interaction.  With the base precision B, let L = -isolate_delta(node at B)
 * (what quantizing the node alone costs, in top-1 fraction) with interval
 * half-width hL, and G = remove_delta (what keeping only this node in FP32
 * recovers in the all-B model) with half-width hG.  If the node's effect were
 * additive, G would equal L.  The row is flagged when
 *     |G - L| > hL + hG   and   |G - L| >= 0.005 (half a point),
 * i.e. the two intervals do not overlap and the gap is practically relevant.
 * The sign tells which way: +1 when G > L (the node hurts more among
 * quantized neighbours: errors compound), -1 when G < L (its error is masked
 * or already paid by others).  Needs the isolate result at B: when B is not a
 * candidate, the isolate sweep also measures B (`base_iso`).
 *
 * Shards.  Sweepable layers are numbered 0..M-1 in graph order; shard K of N
 * (1 <= K <= N) holds the layers whose number i satisfies i mod N == K - 1
 * (round robin, so cheap late layers and costly early ones spread evenly).
 * Every shard file lists all M layer names, so a merge can check that the
 * shards come from the same sweep and are complete and disjoint.
 *
 * The persisted cache (one JSON file per (model, data) pair, named from the
 * two SHA-256 keys) keeps every result under the exact settings it depends
 * on: local and isolate cells under the candidate's precision key, remove
 * rows and the base run under the base's key, all keys including the
 * calibration and batch; the file records the qlens version, both hashes,
 * the sample count, the FP32 top-1 and a SHA-256 checksum of its entries.
 * Anything that does not check out makes the whole file ignored, with a
 * notice, never trusted.
 *
 * Ownership: a struct sweep_results owns its rows and strings
 * (sweep_results_fini).  Nothing here is thread-safe; the session copies.
 */
#ifndef QLENS_SWEEPIO_H
#define QLENS_SWEEPIO_H

#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"
#include "policy.h"
#include "sha256.h"
#include "status.h"

#define SWEEP_MAX_CANDS 8
#define SWEEP_KEY_MAX 160
#define SWEEP_NOTICE_MAX 512

struct sweep_cell {
	bool has_local, has_iso;
	double local_sqnr_db;	    /* INFINITY when exact */
	struct metrics_summary iso; /* isolate, against FP32 */
};

struct sweep_row {
	char *name;		/* ONNX node name */
	char *op;		/* ONNX op_type */
	int node;		/* node index in the session's graph; -1 when read from a file */
	int index;		/* number among all sweepable layers (shards) */
	int64_t params, macs;	/* per sample */
	struct sweep_cell cell[SWEEP_MAX_CANDS];
	bool has_base_iso;	/* isolate at the base when the base is no candidate */
	struct metrics_summary base_iso;
	bool has_remove;
	struct metrics_summary remove;	    /* the remove run against FP32 */
	struct metrics_summary remove_gain; /* against the all-base run: delta = recovered */
};

struct sweep_results {
	char version[32];		/* qlens version */
	char bundle[128];
	char model_sha[SHA256_HEX], data_sha[SHA256_HEX];
	int n_cands;
	char cand[SWEEP_MAX_CANDS][32];		   /* as named */
	char cand_key[SWEEP_MAX_CANDS][SWEEP_KEY_MAX]; /* exact settings of each */
	char base[32];
	char base_key[SWEEP_KEY_MAX];
	int base_cand;			/* candidate equal to the base, or -1 */
	char calib[64];			/* activation calibrator */
	int64_t calib_samples;		/* requested: the first N samples, 0 = all */
	int batch;
	int64_t samples;		/* evaluation samples */
	bool has_fp32;
	double fp32_top1;
	bool has_base;
	struct metrics_summary base_run; /* all-base against FP32 */
	int shard_k, shard_n;		/* 0, 0: not a shard */
	int n_layers;
	char **layers;			/* every sweepable layer, graph order */
	int n_rows;
	struct sweep_row *rows;		/* the layers of this sweep (all, or a shard's) */
};

void sweep_results_init(struct sweep_results *r);
void sweep_results_fini(struct sweep_results *r);
/* Deep copy; dst is overwritten (not finalized first). */
enum status sweep_results_copy(struct sweep_results *dst, const struct sweep_results *src,
			       struct err *e);
/* Deep copy of the rows of shard k of n (1 <= k <= n) with shard_k/shard_n set. */
enum status sweep_results_shard(struct sweep_results *dst, const struct sweep_results *src,
				int k, int n, struct err *e);
/* Does layer number i belong to shard k of n? */
bool sweep_in_shard(int i, int k, int n);
/* Parse "K/N" (1 <= K <= N <= 100000). */
enum status sweep_parse_shard(const char *text, int *k, int *n, struct err *e);

/* The isolate result at the base precision for row r, or NULL. */
const struct metrics_summary *sweep_base_iso(const struct sweep_results *res,
					     const struct sweep_row *r);
/* The interaction flag of row r (see above): 0, +1 or -1; 0 when unknown. */
int sweep_interaction(const struct sweep_results *res, const struct sweep_row *r);

/* Exact settings a precision's results depend on, e.g.
 * "w=int8 a=uint8 g=per-channel sym=0 acal=minmax wcal=minmax sim=4|cs=512|b=64"
 * (sim = SIM_SEMANTICS, sim.h; cs = the requested calibration samples, "all"
 * for 0).  */
void sweep_prec_key(const struct precision *p, int64_t calib_samples, int batch, char *buf,
		    size_t size);

/* --- exports --------------------------------------------------------------- */
/* The sweep as JSON text (malloc'ed; NULL on out of memory).  Keys: format,
 * format_version, qlens_version, bundle, model_sha256, data_sha256, settings
 * {candidates, candidate_keys, base, base_key, calib_method, calib_samples,
 * batch}, candidates, base, samples, fp32_top1, base_top1, base_delta,
 * base_ci95, shard ({k, n} or null), layers, and rows[] with one row per node
 * x candidate: node, op, params, macs, precision, local_sqnr_db,
 * isolate_top1, isolate_delta, isolate_ci95, isolate_within_noise,
 * isolate_agreement, isolate_sqnr_db, isolate_kl, remove_delta, remove_ci95,
 * remove_within_noise, remove_top1, interaction, plus the complete summaries
 * (isolate, remove, remove_vs_base) that sweepio_read_json needs.  Missing
 * results are null; an exact SQNR is the string "inf".  Accuracies are
 * fractions 0..1. */
char *sweepio_json(const struct sweep_results *r);
/* CSV with one line per node x candidate (header line first). */
char *sweepio_csv(const struct sweep_results *r);
/* Read a file written by sweepio_json; strict (every check failing names the
 * file). */
enum status sweepio_read_json(const char *path, struct sweep_results *r, struct err *e);
/* Join shard files: same model, data, settings and version; shard counts
 * equal; every shard present once; row sets disjoint and covering every
 * layer.  out is a whole (unsharded) sweep. */
enum status sweepio_merge(const struct sweep_results *shards, int n, struct sweep_results *out,
			  struct err *e);

/* --- persisted cache --------------------------------------------------------- */
/* $XDG_CACHE_HOME/qlens (or ~/.cache/qlens) into buf; dir overrides. */
enum status sweepio_cache_dir(const char *dir, char *buf, size_t size, struct err *e);
/* The file of a (model, data) pair inside dir. */
void sweepio_cache_path(const char *dir, const char *model_sha, const char *data_sha, char *buf,
			size_t size);
/* Fill the results in r whose keys match r's settings (r's rows, names,
 * hashes, version, samples and keys must be set).  A missing file is no
 * error and no notice; a file that fails any check is ignored with a notice
 * in notice[SWEEP_NOTICE_MAX] and r unchanged.  Returns the number of results
 * taken (cells, rows, base). */
int sweepio_cache_load(const char *path, struct sweep_results *r, char *notice);
/* Write r's results into the cache file, keeping the entries of other
 * settings already there (a file that fails the checks is replaced).  Creates
 * the folder.  Atomic (file_write_atomic). */
enum status sweepio_cache_save(const char *path, const struct sweep_results *r, struct err *e);

#endif
