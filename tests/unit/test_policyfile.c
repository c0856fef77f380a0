/*
 * test_policyfile.c - policy files (round trip, validation, atomic saves) and
 * the structure of QDQ exports.
 *
 * Everything runs on tests/integration/ort/tiny.onnx (argv[1]), a small
 * opset-17 model with a MatMul, an Add, a LayerNormalization, a ReduceMean
 * whose axes are an attribute (they become an input at opset 18) and a Gemm,
 * calibrated on seeded random data: no sample bundle is needed.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cJSON.h>
#include <cmocka.h>

#include "export.h"
#include "fileio.h"
#include "onnx_load.h"
#include "onnx_save.h"
#include "policyfile.h"

static const char *model_path;
static char tmpdir[256];

struct fixture {
	struct graph *g;
	struct calib_data cal;
	struct sim sim;
	struct policy_doc doc;
	char *json;
};

static void make_calib(struct tensor *t, int n)
{
	struct err e = { 0 };
	struct shape s = shape_make(4, (const int64_t[]){ n, 1, 28, 28 });
	assert_int_equal(tensor_alloc(t, DT_FLOAT, &s, &e), OK);
	float *x = t->data;
	srand(11);
	for (int64_t i = 0; i < tensor_numel(t); i++)
		x[i] = (float)rand() / (float)RAND_MAX * 3.0f - 0.8f;
}

/* Simulate `preset` (with optional NODE=PRESET overrides) on tiny.onnx. */
static void setup_sim(struct fixture *f, const char *preset, enum qgran gran, const char *set)
{
	struct err e = { 0 };
	memset(f, 0, sizeof *f);
	if (onnx_load_file(model_path, &f->g, &e))
		fail_msg("%s", e.msg);
	struct tensor data;
	make_calib(&data, 48);
	assert_int_equal(calib_collect(f->g, &data, 1, 16, &f->cal, &e), OK);
	tensor_fini(&data);
	struct precision p;
	assert_int_equal(precision_preset(preset, &p, &e), OK);
	if (gran != QG_COUNT)
		p.wgran = gran;
	struct policy pol;
	assert_int_equal(policy_init(&pol, f->g, &p, &e), OK);
	if (set && policy_set_spec(&pol, set, &e))
		fail_msg("%s", e.msg);
	if (sim_prepare(&f->sim, f->g, &f->cal, &pol, &e))
		fail_msg("%s", e.msg);
	policy_fini(&pol);
}

static void build_doc(struct fixture *f)
{
	struct err e = { 0 };
	struct metrics_summary ms = { .n = 100, .fp32_top1 = 0.9, .top1 = 0.89, .delta = -0.01,
				      .ci_lo = -0.03, .ci_hi = 0.01, .p_value = 0.5, .agreement = 0.97,
				      .sqnr_db = 21.5, .kl = 0.002, .within_noise = true };
	struct policy_doc_source src = {
		.model_file = "tiny.onnx",
		.model_sha256 = "00000000000000000000000000000000000000000000000000000000000000aa",
		.calib_data = "calib.npy", .calib_samples = 48, .eval = &ms, .eval_data = "eval.npy",
		.labels_data = "labels.npy", .metric = "top1", .qlens_version = "test",
	};
	if (policy_doc_build(&f->doc, &f->sim, &src, &e))
		fail_msg("%s", e.msg);
	f->json = policy_doc_json(&f->doc);
	assert_non_null(f->json);
}

static void teardown_fix(struct fixture *f)
{
	free(f->json);
	policy_doc_fini(&f->doc);
	sim_fini(&f->sim);
	calib_data_fini(&f->cal);
	graph_free(f->g);
}

static char *read_text(const char *path)
{
	void *buf;
	size_t len;
	struct err e = { 0 };
	if (file_read_all(path, 1 << 26, &buf, &len, &e))
		fail_msg("%s", e.msg);
	return buf;
}

static const char *in_tmp(const char *name)
{
	static char buf[4][512];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
	return buf[k];
}

/* ---- round trip ------------------------------------------------------------------ */

static void test_round_trip(void **state)
{
	(void)state;
	struct fixture f;
	setup_sim(&f, "int8", QG_COUNT, "head=fp16");
	build_doc(&f);
	struct err e = { 0 };
	/* memory: parse -> print gives the same text */
	struct policy_doc d2;
	bool changed = true;
	if (policy_doc_parse(f.json, strlen(f.json), "mem", f.g, NULL, &d2, &changed, &e))
		fail_msg("%s", e.msg);
	assert_false(changed);
	char *j2 = policy_doc_json(&d2);
	assert_string_equal(j2, f.json);
	free(j2);
	/* the policy it describes is the one simulated */
	struct policy pol;
	assert_int_equal(policy_doc_policy(&d2, f.g, &pol, &e), OK);
	for (int ni = 0; ni < f.g->n_nodes; ni++) {
		struct precision a = policy_node(&pol, ni), b = policy_node(&f.sim.pol, ni);
		assert_true(precision_equal(&a, &b));
		assert_int_equal(pol.has_override[ni], f.sim.pol.has_override[ni]);
	}
	policy_fini(&pol);
	/* the recorded parameters are the simulation's */
	char msg[256];
	assert_int_equal(policy_doc_compare(&d2, &f.sim, msg, sizeof msg), 0);
	d2.nodes[0].outputs[0].scale *= 2;
	assert_int_equal(policy_doc_compare(&d2, &f.sim, msg, sizeof msg), 1);
	assert_non_null(strstr(msg, "proj/MatMul"));
	policy_doc_fini(&d2);

	/* files: save -> load -> save is byte-identical */
	assert_int_equal(policy_doc_save(&f.doc, in_tmp("a.json"), &e), OK);
	struct policy_doc d3;
	if (policy_doc_load(in_tmp("a.json"), f.g, NULL, &d3, NULL, &e))
		fail_msg("%s", e.msg);
	assert_int_equal(policy_doc_save(&d3, in_tmp("b.json"), &e), OK);
	char *ta = read_text(in_tmp("a.json")), *tb = read_text(in_tmp("b.json"));
	assert_string_equal(ta, tb);
	assert_int_equal(ta[strlen(ta) - 1], '\n');
	free(ta);
	free(tb);
	policy_doc_fini(&d3);
	teardown_fix(&f);
}

/* A minimal hand-written policy loads and defaults what it omits. */
static void test_minimal_file(void **state)
{
	(void)state;
	struct fixture f;
	setup_sim(&f, "int8", QG_COUNT, NULL);
	const char *text = "{\"format\": \"qlens-policy\", \"version\": 1,\n"
			   " \"defaults\": {\"weight_format\": \"int8\", \"activation_format\": \"uint8\"},\n"
			   " \"nodes\": {\"head\": {\"precision\": {\"weight_format\": \"int4\",\n"
			   "   \"activation_format\": \"uint8\", \"granularity\": \"per-block\",\n"
			   "   \"block_size\": 64, \"calibrator\": {\"method\": \"percentile\", \"percentile\": 99.9}}}}}";
	struct policy_doc d;
	struct err e = { 0 };
	if (policy_doc_parse(text, strlen(text), "hand.json", f.g, "ab", &d, NULL, &e))
		fail_msg("%s", e.msg);
	assert_int_equal(d.defaults.wgran, QG_CHANNEL);
	assert_int_equal(d.n_nodes, 1);
	assert_true(d.nodes[0].override);
	assert_int_equal(d.nodes[0].prec.wfmt, QF_INT4);
	assert_int_equal(d.nodes[0].prec.block, 64);
	assert_int_equal(d.nodes[0].prec.acalib.method, CALIB_PERCENTILE);
	assert_true(fabs(d.nodes[0].prec.acalib.percentile - 99.9) < 1e-12);
	/* and its own save round-trips from then on */
	char *j1 = policy_doc_json(&d);
	struct policy_doc d2;
	assert_int_equal(policy_doc_parse(j1, strlen(j1), "j1", f.g, NULL, &d2, NULL, &e), OK);
	char *j2 = policy_doc_json(&d2);
	assert_string_equal(j1, j2);
	free(j1);
	free(j2);
	policy_doc_fini(&d2);
	policy_doc_fini(&d);
	teardown_fix(&f);
}

/* ---- validation ------------------------------------------------------------------------- */

typedef void (*mutate_fn)(cJSON *root);

static void m_unknown_node(cJSON *root)
{
	cJSON *nodes = cJSON_GetObjectItem(root, "nodes");
	cJSON *head = cJSON_DetachItemFromObject(nodes, "head");
	cJSON_AddItemToObject(nodes, "no/such/node", head);
}
static void m_unknown_format(cJSON *root)
{
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(root, "defaults"), "weight_format",
				  cJSON_CreateString("int7"));
}
static void m_unknown_key(cJSON *root)
{
	cJSON_AddStringToObject(cJSON_GetObjectItem(root, "defaults"), "weight_fromat", "int8");
}
static void m_unknown_top_key(cJSON *root) { cJSON_AddNumberToObject(root, "extra", 1); }
static void m_unknown_tensor_key(cJSON *root)
{
	cJSON *n = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "nodes"), "proj/MatMul");
	cJSON *w = cJSON_GetObjectItem(cJSON_GetObjectItem(n, "tensors"), "weight");
	cJSON_AddNumberToObject(w, "sclae", 1);
}
static void m_not_quantizable(cJSON *root)
{
	cJSON *p = cJSON_Duplicate(cJSON_GetObjectItem(root, "defaults"), 1);
	cJSON *n = cJSON_CreateObject();
	cJSON_AddItemToObject(n, "precision", p);
	cJSON_AddItemToObject(cJSON_GetObjectItem(root, "nodes"), "norm", n);
}
static void m_op_type(cJSON *root)
{
	cJSON *n = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "nodes"), "head");
	cJSON_ReplaceItemInObject(n, "op_type", cJSON_CreateString("Conv"));
}
static void m_tensor_elsewhere(cJSON *root)
{
	cJSON *n = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "nodes"), "proj/MatMul");
	cJSON *w = cJSON_GetObjectItem(cJSON_GetObjectItem(n, "tensors"), "weight");
	cJSON_ReplaceItemInObject(w, "name", cJSON_CreateString("w2"));
}
static void m_gran(cJSON *root)
{
	cJSON *d = cJSON_GetObjectItem(root, "defaults");
	cJSON_ReplaceItemInObject(d, "weight_format", cJSON_CreateString("fp16"));
}
static void m_version(cJSON *root)
{
	cJSON_ReplaceItemInObject(root, "version", cJSON_CreateNumber(2));
}
static void m_calibrator(cJSON *root)
{
	cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "defaults"), "calibrator");
	cJSON_ReplaceItemInObject(c, "method", cJSON_CreateString("kl"));
}

static void m_unknown_node_key(cJSON *root)
{
	/* a misspelt "precision" must not silently drop the override */
	cJSON *n = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "nodes"), "head");
	cJSON *p = cJSON_DetachItemFromObject(n, "precision");
	cJSON_AddItemToObject(n, "precison", p);
}
static void m_unknown_calib_key(cJSON *root)
{
	cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "defaults"), "calibrator");
	cJSON_AddNumberToObject(c, "percentil", 99.9);
}
static void m_duplicate_key(cJSON *root)
{
	/* cJSON appends without checking: the text holds "weight_format" twice */
	cJSON_AddStringToObject(cJSON_GetObjectItem(root, "defaults"), "weight_format", "int4");
}
static void m_unknown_act_format(cJSON *root)
{
	cJSON *n = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "nodes"), "proj/MatMul");
	cJSON *in = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(n, "tensors"), "inputs"), 0);
	cJSON_ReplaceItemInObject(in, "format", cJSON_CreateString("uint7"));
}
static void m_bad_sha(cJSON *root)
{
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(root, "model"), "sha256",
				  cJSON_CreateString("not-a-hash"));
}

static void expect_error(const struct fixture *f, mutate_fn m, const char *want)
{
	cJSON *root = cJSON_Parse(f->json);
	assert_non_null(root);
	m(root);
	char *text = cJSON_Print(root);
	cJSON_Delete(root);
	struct policy_doc d;
	struct err e = { 0 };
	enum status st = policy_doc_parse(text, strlen(text), "p.json", f->g, NULL, &d, NULL, &e);
	free(text);
	if (st == OK) {
		policy_doc_fini(&d);
		fail_msg("accepted; expected an error with \"%s\"", want);
	}
	if (!strstr(e.msg, want))
		fail_msg("error \"%s\" does not contain \"%s\"", e.msg, want);
	assert_non_null(strstr(e.msg, "p.json: "));
}

static void test_validation(void **state)
{
	(void)state;
	struct fixture f;
	setup_sim(&f, "int8", QG_COUNT, "head=fp16");
	build_doc(&f);
	expect_error(&f, m_unknown_node, "nodes.no/such/node: the model has no node named 'no/such/node'");
	expect_error(&f, m_unknown_format, "defaults: unknown format 'int7' in 'weight_format'");
	expect_error(&f, m_unknown_key, "defaults: unknown key 'weight_fromat'");
	expect_error(&f, m_unknown_top_key, "top level: unknown key 'extra'");
	expect_error(&f, m_unknown_tensor_key, "nodes.proj/MatMul.tensors.weight: unknown key 'sclae'");
	expect_error(&f, m_not_quantizable, "node 'norm' (LayerNormalization) is not quantizable");
	expect_error(&f, m_op_type, "node 'head' is a Gemm in the model, not a Conv");
	expect_error(&f, m_tensor_elsewhere, "tensor 'w2' is not an input of node 'proj/MatMul'");
	expect_error(&f, m_gran, "granularity 'per-channel' is not available for fp16 weights");
	expect_error(&f, m_version, "version 2 is not supported");
	expect_error(&f, m_calibrator, "unknown calibrator 'kl'");
	expect_error(&f, m_unknown_node_key, "nodes.head: unknown key 'precison'");
	expect_error(&f, m_unknown_calib_key, "unknown key 'percentil'");
	expect_error(&f, m_duplicate_key, "'weight_format'");
	expect_error(&f, m_unknown_act_format, "unknown format 'uint7'");
	expect_error(&f, m_bad_sha, "sha256");

	struct policy_doc d;
	struct err e = { 0 };
	const char *broken = "{\"format\": \"qlens-policy\",\n \"version\": 1,,}";
	assert_int_equal(policy_doc_parse(broken, strlen(broken), "b.json", f.g, NULL, &d, NULL, &e),
			 ERR_FORMAT);
	assert_non_null(strstr(e.msg, "b.json: not valid JSON (line 2"));
	/* bytes after the top-level value (once silently ignored) are refused */
	size_t tsize = strlen(f.json) + 8;
	char *trailing = malloc(tsize);
	if (!trailing) {
		fail_msg("out of memory");
		return;
	}
	snprintf(trailing, tsize, "%s \n}\n", f.json);
	assert_int_equal(policy_doc_parse(trailing, strlen(trailing), "t.json", f.g, NULL, &d, NULL,
					  &e), ERR_FORMAT);
	assert_non_null(strstr(e.msg, "t.json: not valid JSON (line "));
	snprintf(trailing, tsize, "%s \n\t\r\n", f.json);
	assert_int_equal(policy_doc_parse(trailing, strlen(trailing), "t.json", f.g, NULL, &d, NULL,
					  &e), OK);
	policy_doc_fini(&d);
	free(trailing);
	const char *other = "{\"format\": \"something\", \"version\": 1, \"defaults\": {}}";
	assert_int_not_equal(policy_doc_parse(other, strlen(other), "o.json", f.g, NULL, &d, NULL, &e), OK);
	assert_non_null(strstr(e.msg, "is this a qlens policy?"));

	/* a different model hash is a warning flag, not an error */
	bool changed = false;
	assert_int_equal(policy_doc_parse(f.json, strlen(f.json), "p.json", f.g,
					  "1111111111111111111111111111111111111111111111111111111111111111",
					  &d, &changed, &e), OK);
	assert_true(changed);
	policy_doc_fini(&d);
	assert_int_equal(policy_doc_parse(f.json, strlen(f.json), "p.json", f.g,
					  f.doc.model_sha256, &d, &changed, &e), OK);
	assert_false(changed);
	policy_doc_fini(&d);
	teardown_fix(&f);
}

/* ---- atomic writes ---------------------------------------------------------------------- */

static int count_entries(const char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
	FILE *p = popen(cmd, "r");
	int n = -1;
	if (p) {
		if (fscanf(p, "%d", &n) != 1)
			n = -1;
		pclose(p);
	}
	return n;
}

static void test_atomic_save(void **state)
{
	(void)state;
	struct fixture f;
	setup_sim(&f, "int8", QG_COUNT, NULL);
	build_doc(&f);
	struct err e = { 0 };
	char dir[512];
	snprintf(dir, sizeof dir, "%s/atomic", tmpdir);
	assert_int_equal(mkdir(dir, 0755), 0);
	char path[600];
	snprintf(path, sizeof path, "%s/policy.json", dir);
	assert_int_equal(file_write_atomic(path, "old policy\n", 11, &e), OK);

	/* injected failure: the file-size limit stops the write half-way */
	struct rlimit old;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
	struct rlimit small = old;
	small.rlim_cur = 512; /* the document is several KB */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	enum status st = policy_doc_save(&f.doc, path, &e);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, oldsig);
	assert_int_equal(st, ERR_IO);
	char *t = read_text(path);
	assert_string_equal(t, "old policy\n");
	free(t);
	assert_int_equal(count_entries(dir), 1); /* no temporary left behind */

	/* unwritable folder: as root, permissions only bind another user */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (geteuid() == 0) {
			if (setgid(65534) != 0 || setuid(65534) != 0)
				_exit(3);
		} else if (chmod(dir, 0555) != 0) {
			_exit(4);
		}
		struct err ce = { 0 };
		st = policy_doc_save(&f.doc, path, &ce);
		_exit(st == ERR_IO && strstr(ce.msg, "policy.json") ? 0 : 1);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	chmod(dir, 0755);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	t = read_text(path);
	assert_string_equal(t, "old policy\n");
	free(t);
	assert_int_equal(count_entries(dir), 1);

	/* and a normal save replaces it */
	assert_int_equal(policy_doc_save(&f.doc, path, &e), OK);
	t = read_text(path);
	assert_string_equal(t, f.json);
	free(t);
	teardown_fix(&f);
}

/* ---- export structure ------------------------------------------------------------------- */

static const struct onnx_brief_node *producer(const struct onnx_brief *b, const char *out)
{
	int i = onnx_brief_find_producer(b, out);
	if (i < 0)
		fail_msg("nothing produces '%s'", out);
	return &b->nodes[i];
}

/* The DequantizeLinear feeding input k of the node named `name`. */
static const struct onnx_brief_node *dq_of(const struct onnx_brief *b, const char *name, int k)
{
	for (int i = 0; i < b->n_nodes; i++)
		if (strcmp(b->nodes[i].name, name) == 0) {
			assert_true(k < b->nodes[i].n_inputs);
			const struct onnx_brief_node *p = producer(b, b->nodes[i].inputs[k]);
			assert_string_equal(p->op_type, "DequantizeLinear");
			return p;
		}
	fail_msg("no node '%s'", name);
	return NULL;
}

static void export_brief(struct fixture *f, const char *out, struct export_qdq *x,
			 struct onnx_brief *b)
{
	struct err e = { 0 };
	struct export_info info = { .qlens_version = "test", .policy_file = "p.json" };
	if (export_qdq_plan(&f->sim, &info, x, &e) || onnx_save_edited(model_path, &x->edit, out, &e))
		fail_msg("%s", e.msg);
	if (onnx_brief_file(out, b, &e))
		fail_msg("%s", e.msg);
}

/* What the export must keep of the original model. */
static void check_kept(const struct onnx_brief *orig, const struct onnx_brief *b)
{
	assert_string_equal(b->producer_name, orig->producer_name);
	assert_string_equal(b->graph_name, orig->graph_name);
	assert_int_equal(b->n_inputs, orig->n_inputs);
	assert_int_equal(b->n_outputs, orig->n_outputs);
	for (int i = 0; i < orig->n_inputs; i++)
		assert_string_equal(b->inputs[i], orig->inputs[i]);
	for (int i = 0; i < orig->n_outputs; i++)
		assert_string_equal(b->outputs[i], orig->outputs[i]);
	for (int i = 0; i < orig->n_nodes; i++) {
		bool found = false;
		for (int j = 0; j < b->n_nodes && !found; j++)
			found = strcmp(b->nodes[j].name, orig->nodes[i].name) == 0 &&
				strcmp(b->nodes[j].op_type, orig->nodes[i].op_type) == 0;
		if (!found)
			fail_msg("node '%s' was lost", orig->nodes[i].name);
	}
	bool purpose = false, qv = false;
	for (int i = 0; i < b->n_meta; i++) {
		purpose |= strcmp(b->meta_keys[i], "purpose") == 0 &&
			   strcmp(b->meta_values[i], "export tests") == 0;
		qv |= strcmp(b->meta_keys[i], "qlens.version") == 0;
	}
	assert_true(purpose);
	assert_true(qv);
	/* topological: every input is a graph input, an initializer or produced earlier */
	for (int i = 0; i < b->n_nodes; i++)
		for (int k = 0; k < b->nodes[i].n_inputs; k++) {
			const char *in = b->nodes[i].inputs[k];
			if (!in[0] || onnx_brief_find_init(b, in))
				continue;
			bool gi = false;
			for (int j = 0; j < b->n_inputs; j++)
				gi |= strcmp(b->inputs[j], in) == 0;
			if (gi)
				continue;
			int p = onnx_brief_find_producer(b, in);
			if (p < 0 || p >= i)
				fail_msg("node '%s' reads '%s' before it is produced", b->nodes[i].name, in);
		}
}

static const struct onnx_brief_node *node_named(const struct onnx_brief *b, const char *name)
{
	for (int i = 0; i < b->n_nodes; i++)
		if (strcmp(b->nodes[i].name, name) == 0)
			return &b->nodes[i];
	fail_msg("no node '%s'", name);
	return NULL;
}

static void test_export_int8(void **state)
{
	(void)state;
	struct err e = { 0 };
	struct onnx_brief orig, b;
	assert_int_equal(onnx_brief_file(model_path, &orig, &e), OK);
	struct fixture f;
	setup_sim(&f, "int8", QG_COUNT, NULL);
	struct export_qdq x;
	export_brief(&f, in_tmp("int8.onnx"), &x, &b);
	check_kept(&orig, &b);
	assert_int_equal(b.opset, 17); /* int8 needs 13: the model's 17 stays */
	assert_int_equal(b.ir_version, 8);
	/* 5 activation pairs: input->MatMul, MatMul out, Add out, ReduceMean->Gemm in, logits */
	assert_int_equal(onnx_brief_count_op(&b, "QuantizeLinear"), 5);
	assert_int_equal(x.n_act_pairs, 5);
	assert_int_equal(onnx_brief_count_op(&b, "DequantizeLinear"), 5 + 2 + 1);
	assert_int_equal(onnx_brief_count_op(&b, "ReduceMean"), 1);
	/* per-axis weights: MatMul B [28,64] along axis 1, Gemm B (transB) [10,64] along 0 */
	const struct onnx_brief_node *dw1 = dq_of(&b, "proj/MatMul", 1);
	assert_true(dw1->has_axis);
	assert_int_equal(dw1->axis, 1);
	const struct onnx_brief_init *s1 = onnx_brief_find_init(&b, dw1->inputs[1]);
	assert_non_null(s1);
	assert_int_equal(s1->shape.rank, 1);
	assert_int_equal(s1->shape.dim[0], 64);
	assert_int_equal(onnx_brief_find_init(&b, dw1->inputs[0])->dtype, DT_INT8);
	const struct onnx_brief_node *dw2 = dq_of(&b, "head", 1);
	assert_int_equal(dw2->axis, 0);
	assert_int_equal(onnx_brief_find_init(&b, dw2->inputs[1])->shape.dim[0], 10);
	/* int32 bias, per channel */
	const struct onnx_brief_node *db = dq_of(&b, "head", 2);
	assert_int_equal(onnx_brief_find_init(&b, db->inputs[0])->dtype, DT_INT32);
	assert_true(db->has_axis);
	/* the float weights are gone, the Add's constant bias (not quantized) stays */
	assert_null(onnx_brief_find_init(&b, "w1"));
	assert_null(onnx_brief_find_init(&b, "b2"));
	assert_non_null(onnx_brief_find_init(&b, "b1"));
	/* the graph output keeps its name: a DequantizeLinear produces it now */
	assert_string_equal(producer(&b, "logits")->op_type, "DequantizeLinear");
	/* activations: uint8 zero points */
	const struct onnx_brief_node *dx = dq_of(&b, "proj/MatMul", 0);
	assert_false(dx->has_axis);
	assert_int_equal(onnx_brief_find_init(&b, dx->inputs[2])->dtype, DT_UINT8);
	onnx_brief_fini(&b);
	export_qdq_fini(&x);
	teardown_fix(&f);

	/* per-tensor weights: no axis, scalar scales */
	setup_sim(&f, "int8", QG_TENSOR, NULL);
	export_brief(&f, in_tmp("int8pt.onnx"), &x, &b);
	dw1 = dq_of(&b, "proj/MatMul", 1);
	assert_false(dw1->has_axis);
	assert_int_equal(onnx_brief_find_init(&b, dw1->inputs[1])->shape.rank, 0);
	db = dq_of(&b, "head", 2);
	assert_false(db->has_axis);
	onnx_brief_fini(&b);
	export_qdq_fini(&x);
	teardown_fix(&f);
	onnx_brief_fini(&orig);
}

static void test_export_int4_opset21(void **state)
{
	(void)state;
	struct err e = { 0 };
	struct onnx_brief orig, b;
	assert_int_equal(onnx_brief_file(model_path, &orig, &e), OK);
	struct fixture f;
	setup_sim(&f, "w4a8", QG_COUNT, NULL);
	struct export_qdq x;
	export_brief(&f, in_tmp("w4a8.onnx"), &x, &b);
	check_kept(&orig, &b);
	assert_int_equal(b.opset, 21);
	assert_int_equal(b.ir_version, 10);
	/* blocked int4 weights along K: MatMul B [28,64] axis 0 -> scales [1,64];
	 * Gemm B [10,64] (transB) axis 1 -> scales [10,2] */
	const struct onnx_brief_node *dw1 = dq_of(&b, "proj/MatMul", 1);
	assert_true(dw1->has_block_size);
	assert_int_equal(dw1->block_size, 32);
	assert_int_equal(dw1->axis, 0);
	const struct onnx_brief_init *q1 = onnx_brief_find_init(&b, dw1->inputs[0]);
	assert_int_equal(q1->dtype, DT_INT4);
	const struct onnx_brief_init *s1 = onnx_brief_find_init(&b, dw1->inputs[1]);
	assert_int_equal(s1->shape.rank, 2);
	assert_int_equal(s1->shape.dim[0], 1);
	assert_int_equal(s1->shape.dim[1], 64);
	const struct onnx_brief_node *dw2 = dq_of(&b, "head", 1);
	assert_int_equal(dw2->axis, 1);
	const struct onnx_brief_init *s2 = onnx_brief_find_init(&b, dw2->inputs[1]);
	assert_int_equal(s2->shape.dim[0], 10);
	assert_int_equal(s2->shape.dim[1], 2);
	/* per-block weights with two blocks: the simulation keeps the bias in float */
	assert_non_null(onnx_brief_find_init(&b, "b2"));
	assert_int_equal(x.n_biases, 0);
	/* ReduceMean-18 takes its axes as an input */
	const struct onnx_brief_node *rm = node_named(&b, "pool");
	assert_int_equal(rm->n_inputs, 2);
	const struct onnx_brief_init *ax = onnx_brief_find_init(&b, rm->inputs[1]);
	assert_non_null(ax);
	assert_int_equal(ax->dtype, DT_INT64);
	assert_int_equal(ax->shape.dim[0], 1);
	onnx_brief_fini(&b);
	export_qdq_fini(&x);
	teardown_fix(&f);

	/* fp8 needs opset 19 and an fp8 zero point */
	setup_sim(&f, "fp8e4m3", QG_COUNT, NULL);
	export_brief(&f, in_tmp("fp8.onnx"), &x, &b);
	assert_int_equal(b.opset, 19);
	assert_int_equal(b.ir_version, 9);
	const struct onnx_brief_node *dx = dq_of(&b, "proj/MatMul", 0);
	assert_int_equal(onnx_brief_find_init(&b, dx->inputs[2])->dtype, DT_FLOAT8E4M3FN);
	assert_int_equal(node_named(&b, "pool")->n_inputs, 2);
	onnx_brief_fini(&b);
	export_qdq_fini(&x);
	teardown_fix(&f);
	onnx_brief_fini(&orig);
}

static void test_export_mixed_fp16(void **state)
{
	(void)state;
	struct fixture f;
	setup_sim(&f, "int8", QG_COUNT, "head=fp16");
	struct export_qdq x;
	struct onnx_brief b;
	export_brief(&f, in_tmp("mixed.onnx"), &x, &b);
	assert_int_equal(b.opset, 17);
	/* head: weight as float16 + Cast, input and output Cast pairs; no int32 bias */
	const struct onnx_brief_node *cw = producer(&b, node_named(&b, "head")->inputs[1]);
	assert_string_equal(cw->op_type, "Cast");
	assert_int_equal(cw->to, DT_FLOAT);
	assert_int_equal(onnx_brief_find_init(&b, cw->inputs[0])->dtype, DT_FLOAT16);
	const struct onnx_brief_node *ci = producer(&b, node_named(&b, "head")->inputs[0]);
	assert_string_equal(ci->op_type, "Cast");
	const struct onnx_brief_node *ch = producer(&b, ci->inputs[0]);
	assert_string_equal(ch->op_type, "Cast");
	assert_int_equal(ch->to, DT_FLOAT16);
	assert_int_equal(onnx_brief_count_op(&b, "Cast"), 5);
	assert_string_equal(node_named(&b, "head")->inputs[2], "b2");
	onnx_brief_fini(&b);
	export_qdq_fini(&x);
	teardown_fix(&f);
}

/* An export that changes no node leaves the file as it was, byte for byte,
 * apart from qlens' metadata entries (the last field of the ModelProto). */
static void test_export_keeps_bytes(void **state)
{
	(void)state;
	struct fixture f;
	setup_sim(&f, "fp32", QG_COUNT, NULL);
	struct export_qdq x;
	struct onnx_brief b;
	export_brief(&f, in_tmp("same.onnx"), &x, &b);
	void *orig, *out;
	size_t n_orig, n_out;
	struct err e = { 0 };
	assert_int_equal(file_read_all(model_path, 1 << 24, &orig, &n_orig, &e), OK);
	assert_int_equal(file_read_all(in_tmp("same.onnx"), 1 << 24, &out, &n_out, &e), OK);
	assert_true(n_out > n_orig);
	assert_memory_equal(orig, out, n_orig);
	assert_int_equal(x.n_quantize + x.n_dequantize + x.n_cast, 0);
	free(orig);
	free(out);
	onnx_brief_fini(&b);
	export_qdq_fini(&x);
	teardown_fix(&f);
}

/* ORT overrides obey ONNX Runtime's rules; TensorRT strings name every node. */
static void test_other_exports(void **state)
{
	(void)state;
	struct fixture f;
	setup_sim(&f, "int8", QG_COUNT, "head=fp16");
	struct err e = { 0 };
	char *text;
	struct export_info partial = { .ort_partial = true };
	assert_int_equal(export_ort_overrides_json(&f.sim, &partial, &text, &e), OK);
	cJSON *root = cJSON_Parse(text);
	free(text);
	assert_non_null(root);
	cJSON *qs = cJSON_GetObjectItem(root, "quantize_static");
	cJSON *ov = cJSON_GetObjectItem(cJSON_GetObjectItem(qs, "extra_options"), "TensorQuantOverrides");
	/* per-channel weight: a list with one dict per channel, axis in the first */
	cJSON *w1 = cJSON_GetObjectItem(ov, "w1");
	assert_int_equal(cJSON_GetArraySize(w1), 64);
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(w1, 0), "axis")->valueint, 1);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(w1, 0), "quant_type")->valuestring,
			    "QInt8");
	/* activations: scale and zero_point, never together with rmin/rmax/symmetric */
	cJSON *in = cJSON_GetArrayItem(cJSON_GetObjectItem(ov, "tokens"), 0);
	assert_non_null(cJSON_GetObjectItem(in, "scale"));
	assert_non_null(cJSON_GetObjectItem(in, "zero_point"));
	assert_null(cJSON_GetObjectItem(in, "rmin"));
	assert_null(cJSON_GetObjectItem(in, "symmetric"));
	/* the fp16 node is excluded and explained */
	cJSON *ex = cJSON_GetObjectItem(qs, "nodes_to_exclude");
	assert_int_equal(cJSON_GetArraySize(ex), 1);
	assert_string_equal(cJSON_GetArrayItem(ex, 0)->valuestring, "head");
	assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(root, "unsupported")) >= 1);
	cJSON_Delete(root);

	assert_int_equal(export_trt_text(&f.sim, NULL, &text, &e), OK);
	assert_non_null(strstr(text, "--layerPrecisions=reshape:fp32,proj/MatMul:int8,proj/Add:int8,"));
	assert_non_null(strstr(text, "head:fp16"));
	assert_non_null(strstr(text, "norm:fp32"));
	assert_non_null(strstr(text, "--layerOutputTypes="));
	assert_non_null(strstr(text, "reshape:fp32"));
	free(text);
	teardown_fix(&f);
}


/* ---- what ONNX Runtime's quantizer cannot express ----------------------------------- */

static cJSON *ort_doc(struct fixture *f, bool partial, enum status want, struct err *e)
{
	char *text = NULL;
	struct export_info info = { .ort_partial = partial };
	assert_int_equal(export_ort_overrides_json(&f->sim, &info, &text, e), want);
	if (want != OK) {
		assert_null(text);
		return NULL;
	}
	cJSON *root = cJSON_Parse(text);
	free(text);
	assert_non_null(root);
	return root;
}

static bool json_array_has(const cJSON *arr, const char *s)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, arr)
		if (cJSON_IsString(it) && strcmp(it->valuestring, s) == 0)
			return true;
	return false;
}

static void test_ort_refuses(void **state)
{
	(void)state;
	struct fixture f;
	struct err e = { 0 };
	/* an fp16 node: refused by default, the error names it and says why */
	setup_sim(&f, "int8", QG_COUNT, "head=fp16");
	ort_doc(&f, false, ERR_UNSUPPORTED, &e);
	assert_non_null(strstr(e.msg, "cannot express 1 node(s)"));
	assert_non_null(strstr(e.msg, "'head' (fp16: ONNX Runtime has no QuantType for it)"));
	assert_null(strstr(e.msg, "proj/MatMul"));
	cJSON *root = ort_doc(&f, true, OK, &e);
	cJSON *qs = cJSON_GetObjectItem(root, "quantize_static");
	assert_true(json_array_has(cJSON_GetObjectItem(qs, "nodes_to_exclude"), "head"));
	assert_false(json_array_has(cJSON_GetObjectItem(qs, "nodes_to_exclude"), "proj/MatMul"));
	cJSON_Delete(root);
	teardown_fix(&f);

	/* per-block int4 weights: both weight nodes named, both excluded when partial */
	setup_sim(&f, "w4a8", QG_COUNT, NULL);
	ort_doc(&f, false, ERR_UNSUPPORTED, &e);
	assert_non_null(strstr(e.msg, "cannot express 2 node(s)"));
	assert_non_null(strstr(e.msg, "'proj/MatMul' (int4 weights per block of 32: "
				      "TensorQuantOverrides has no block size)"));
	assert_non_null(strstr(e.msg, "'head' (int4"));
	root = ort_doc(&f, true, OK, &e);
	qs = cJSON_GetObjectItem(root, "quantize_static");
	cJSON *ex = cJSON_GetObjectItem(qs, "nodes_to_exclude");
	assert_true(json_array_has(ex, "proj/MatMul"));
	assert_true(json_array_has(ex, "head"));
	cJSON *ov = cJSON_GetObjectItem(cJSON_GetObjectItem(qs, "extra_options"), "TensorQuantOverrides");
	assert_null(cJSON_GetObjectItem(ov, "w1")); /* no half-true weight override */
	assert_false(json_array_has(cJSON_GetObjectItem(qs, "op_types_to_quantize"), "MatMul"));
	cJSON_Delete(root);
	teardown_fix(&f);

	/* per-channel int4 (no blocks) and int8 are expressible: no refusal */
	setup_sim(&f, "w4a8", QG_CHANNEL, NULL);
	root = ort_doc(&f, false, OK, &e);
	ov = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "quantize_static"),
						     "extra_options"), "TensorQuantOverrides");
	cJSON *w1 = cJSON_GetArrayItem(cJSON_GetObjectItem(ov, "w1"), 0);
	assert_string_equal(cJSON_GetObjectItem(w1, "quant_type")->valuestring, "QInt4");
	cJSON_Delete(root);
	teardown_fix(&f);
}

/* ---- TensorRT layer names ---------------------------------------------------------------- */

/* trtexec's reading of --layerPrecisions / --layerOutputTypes (sampleOptions.cpp:
 * split at ',', the precision after the last ':', single quotes deleted from
 * the name): the precision it gives `layer`, or NULL. */
static const char *trtexec_lookup(const char *text, const char *flag, const char *layer,
				  char *buf, size_t n)
{
	const char *line = strstr(text, flag);
	assert_non_null(line);
	line += strlen(flag);
	size_t len = strcspn(line, "\n");
	char *spec = strndup(line, len);
	assert_non_null(spec);
	const char *found = NULL;
	for (char *item = spec, *next; item; item = next) {
		next = strchr(item, ',');
		if (next)
			*next++ = '\0';
		char *colon = strrchr(item, ':');
		assert_non_null(colon);
		*colon = '\0';
		char name[256];
		size_t k = 0;
		for (const char *c = item; *c && k + 1 < sizeof name; c++)
			if (*c != '\'')
				name[k++] = *c;
		name[k] = '\0';
		if (strcmp(name, layer) == 0) {
			snprintf(buf, n, "%s", colon + 1);
			found = buf;
		}
	}
	free(spec);
	return found;
}

static void test_trt_names(void **state)
{
	(void)state;
	assert_null(export_trt_name_problem("/blocks.0/attn/MatMul"));
	assert_null(export_trt_name_problem("enc:0/fc:1"));
	assert_null(export_trt_name_problem("with space"));
	assert_null(export_trt_name_problem("a+b"));
	assert_non_null(strstr(export_trt_name_problem("a,b"), "','"));
	assert_non_null(strstr(export_trt_name_problem("it's"), "single quote"));
	assert_non_null(strstr(export_trt_name_problem("conv*"), "wildcard"));
	assert_non_null(strstr(export_trt_name_problem("two\nlines"), "control character"));
	assert_non_null(strstr(export_trt_name_problem(""), "empty"));

	struct fixture f;
	setup_sim(&f, "int8", QG_COUNT, "head=fp16");
	struct graph *g = f.g;
	int mm = graph_find_node(g, "proj/MatMul"), add = graph_find_node(g, "proj/Add");
	int head = graph_find_node(g, "head"), norm = graph_find_node(g, "norm");
	int rs = graph_find_node(g, "reshape");
	assert_true(mm >= 0 && add >= 0 && head >= 0 && norm >= 0 && rs >= 0);
	/* the graph's names live in its arena: point them at literals for this test */
	g->nodes[mm].name = "enc:0/proj:MatMul";
	g->nodes[head].name = "head/fc 1";
	g->nodes[add].name = "proj,Add";
	g->nodes[norm].name = "it's\nnorm";
	g->nodes[rs].name = "res*hape";
	char *text;
	struct err e = { 0 };
	assert_int_equal(export_trt_text(&f.sim, NULL, &text, &e), OK);
	char buf[32];
	const char *p = trtexec_lookup(text, "--layerPrecisions=", "enc:0/proj:MatMul", buf, sizeof buf);
	assert_non_null(p);
	assert_string_equal(p, "int8");
	p = trtexec_lookup(text, "--layerPrecisions=", "head/fc 1", buf, sizeof buf);
	assert_non_null(p);
	assert_string_equal(p, "fp16");
	p = trtexec_lookup(text, "--layerOutputTypes=", "head/fc 1", buf, sizeof buf);
	assert_non_null(p);
	assert_string_equal(p, "fp16");
	p = trtexec_lookup(text, "--layerOutputTypes=", "enc:0/proj:MatMul", buf, sizeof buf);
	assert_non_null(p);
	assert_string_equal(p, "int8");
	/* names trtexec would misread are left out, and said so (escaped, one line each) */
	assert_null(trtexec_lookup(text, "--layerPrecisions=", "proj", buf, sizeof buf));
	assert_null(trtexec_lookup(text, "--layerPrecisions=", "Add", buf, sizeof buf));
	assert_null(strstr(text, "res*hape:"));
	assert_non_null(strstr(text, "# 3 node(s) left out"));
	assert_non_null(strstr(text, "#   node 'proj,Add' (Add): its name holds ','"));
	assert_non_null(strstr(text, "#   node 'it's\\x0anorm' (LayerNormalization)"));
	assert_non_null(strstr(text, "#   node 'res*hape' (Reshape): its name holds '*'"));
	/* every line is a comment or one of the two flags */
	for (const char *l = text; *l; l = strchr(l, '\n') + 1) {
		assert_true(l[0] == '#' || strncmp(l, "--layerPrecisions=", 18) == 0 ||
			    strncmp(l, "--layerOutputTypes=", 19) == 0);
		assert_non_null(strchr(l, '\n'));
	}
	free(text);
	teardown_fix(&f);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test_policyfile tests/integration/ort/tiny.onnx\n");
		return 2;
	}
	model_path = argv[1];
	snprintf(tmpdir, sizeof tmpdir, "/tmp/qlens-policyfile-XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	chmod(tmpdir, 0755); /* the unwritable-folder check runs as another user */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_minimal_file),
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_atomic_save),
		cmocka_unit_test(test_export_int8),
		cmocka_unit_test(test_export_int4_opset21),
		cmocka_unit_test(test_export_mixed_fp16),
		cmocka_unit_test(test_export_keeps_bytes),
		cmocka_unit_test(test_other_exports),
		cmocka_unit_test(test_ort_refuses),
		cmocka_unit_test(test_trt_names),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return rc;
}
