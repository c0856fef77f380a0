/*
 * fuzz_tensor.c - libFuzzer harness for serialized TensorProto files.
 *
 * onnx_load_tensor_file reads the input_K.pb / output_K.pb files of ONNX's
 * node tests.  It only takes a path, so each input is written to an
 * in-memory file (memfd) and read back through /proc/self/fd: no disk I/O,
 * and the real file-reading path runs.  A tensor that reads must hold exactly
 * elements x element size bytes.
 */
#define _GNU_SOURCE /* memfd_create */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "onnx_load.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fd = memfd_create("fuzz_tensor", MFD_CLOEXEC);
	if (fd < 0) {
		perror("fuzz_tensor: memfd_create");
		exit(1);
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FUZZ_CHECK(ftruncate(fd, 0) == 0, "ftruncate");
	FUZZ_CHECK(size == 0 || pwrite(fd, data, size, 0) == (ssize_t)size, "pwrite");
	struct tensor t = { 0 };
	struct err e = { 0 };
	enum status st = onnx_load_tensor_file(path, &t, &e);
	if (st != OK) {
		fuzz_check_refusal(st, &e);
		return 0;
	}
	int64_t numel = tensor_numel(&t);
	FUZZ_CHECK(numel >= 0 && t.nbytes == (size_t)numel * dtype_size(t.dtype),
		   "%zu bytes for %lld elements of %s", t.nbytes, (long long)numel,
		   dtype_name(t.dtype));
	tensor_fini(&t);
	return 0;
}
