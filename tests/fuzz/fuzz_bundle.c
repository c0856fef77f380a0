/*
 * fuzz_bundle.c - libFuzzer harness for bundle.json.
 *
 * Each input is the text of a bundle.json, parsed from memory by
 * bundle_parse_json (what bundle_open does with a folder).  The paths it
 * names are resolved against a scratch folder made once at start-up that
 * holds the files a bundle usually names (model.onnx, calib.npy, ...; empty,
 * since only their existence is checked), a sub-folder with one more file and
 * an empty folder, so both the "file exists" and the "missing / not a regular
 * file" branches are reachable.  The folder is removed at exit.
 *
 * A bundle that opens must name its model and carry its folder and name.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char folder[64];

static const char *const files[] = {
	"model.onnx", "calib.npy", "eval.npy", "labels.npy", "eval-labels.npy",
	"reference-logits.npy", "sub/data.npy",
};
static const char *const dirs[] = { "sub", "empty" };

static void path_of(char *buf, size_t size, const char *rel)
{
	snprintf(buf, size, "%s/%s", folder, rel);
}

static void remove_folder(void)
{
	char p[256];
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		path_of(p, sizeof p, files[i]);
		unlink(p);
	}
	for (size_t i = sizeof dirs / sizeof dirs[0]; i-- > 0;) {
		path_of(p, sizeof p, dirs[i]);
		rmdir(p);
	}
	rmdir(folder);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(folder, sizeof folder, "%s/qlens-fuzz-bundle-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(folder)) {
		perror("fuzz_bundle: mkdtemp");
		exit(1);
	}
	atexit(remove_folder);
	char p[256];
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		path_of(p, sizeof p, dirs[i]);
		if (mkdir(p, 0755) != 0) {
			perror(p);
			exit(1);
		}
	}
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		path_of(p, sizeof p, files[i]);
		FILE *f = fopen(p, "wb");
		if (!f || fclose(f) != 0) {
			perror(p);
			exit(1);
		}
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bundle b;
	struct err e = { 0 };
	enum status st = bundle_parse_json((const char *)data, size, folder, "bundle.json", &b, &e);
	if (st != OK) {
		fuzz_check_refusal(st, &e);
		FUZZ_CHECK(b.dir == NULL && b.name == NULL && b.model_path == NULL,
			   "a refused bundle keeps its fields (%s)", e.msg);
		return 0;
	}
	FUZZ_CHECK(b.is_dir && b.dir && b.name, "an open bundle without folder or name");
	FUZZ_CHECK(b.model_path != NULL, "an open bundle without a model");
	FUZZ_CHECK(!b.task || strcmp(b.task, "classification") == 0, "task '%s'", b.task);
	FUZZ_CHECK(!b.metric || strcmp(b.metric, "top1") == 0, "metric '%s'", b.metric);
	bundle_fini(&b);
	return 0;
}
