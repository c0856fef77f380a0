/*
 * fuzz_npy.c - libFuzzer harness for the .npy reader.
 *
 * Each input is a whole .npy file, read twice: from memory (npy_read_buffer)
 * and as a file (npy_read, which has its own code path: preamble and header
 * read with pread, Fortran order through scratch), through an in-memory file
 * (memfd) named by /proc/self/fd.  Both must agree: the same status, and for
 * an array the same type, shape and bytes.  An array that reads must be
 * consistent (bytes = elements x element size, bools 0 or 1) and survive a
 * round trip: npy_encode then npy_read_buffer gives back the same array.
 */
#define _GNU_SOURCE /* memfd_create */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "npy.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fd = memfd_create("fuzz_npy", MFD_CLOEXEC);
	if (fd < 0) {
		perror("fuzz_npy: memfd_create");
		exit(1);
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	return 0;
}

static bool same_array(const struct tensor *a, const struct tensor *b)
{
	return a->dtype == b->dtype && shape_equal(&a->shape, &b->shape) &&
	       a->nbytes == b->nbytes && (a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tensor t = { 0 }, f = { 0 };
	struct err e = { 0 }, ef = { 0 };
	enum status st = npy_read_buffer(data, size, NULL, &t, &e);
	FUZZ_CHECK(ftruncate(fd, 0) == 0, "ftruncate");
	FUZZ_CHECK(size == 0 || pwrite(fd, data, size, 0) == (ssize_t)size, "pwrite");
	enum status stf = npy_read(path, &f, &ef);
	FUZZ_CHECK(st == stf, "from memory: %s; from a file: %s", st ? e.msg : "OK",
		   stf ? ef.msg : "OK");
	if (st != OK) {
		fuzz_check_refusal(st, &e);
		fuzz_check_refusal(stf, &ef);
		return 0;
	}
	FUZZ_CHECK(same_array(&t, &f), "memory and file give different arrays (%s)",
		   dtype_name(t.dtype));
	tensor_fini(&f);
	int64_t numel = tensor_numel(&t);
	FUZZ_CHECK(numel >= 0 && t.nbytes == (size_t)numel * dtype_size(t.dtype),
		   "%zu bytes for %lld elements of %s", t.nbytes, (long long)numel,
		   dtype_name(t.dtype));
	FUZZ_CHECK(t.nbytes == 0 || t.data != NULL, "no data");
	if (t.dtype == DT_BOOL)
		for (size_t i = 0; i < t.nbytes; i++)
			FUZZ_CHECK(((const uint8_t *)t.data)[i] <= 1, "bool byte %zu is %u", i,
				   ((const uint8_t *)t.data)[i]);

	void *buf = NULL;
	size_t len = 0;
	st = npy_encode(&t, &buf, &len, &e);
	FUZZ_CHECK(st == OK, "an array that was read does not encode: %s", e.msg);
	struct tensor back = { 0 };
	st = npy_read_buffer(buf, len, "(encoded)", &back, &e);
	FUZZ_CHECK(st == OK, "an encoded array does not read back: %s", e.msg);
	FUZZ_CHECK(same_array(&back, &t), "round trip changed the array (%s)", dtype_name(t.dtype));
	tensor_fini(&back);
	free(buf);
	tensor_fini(&t);
	return 0;
}
