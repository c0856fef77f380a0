/*
 * wshim.c - an LD_PRELOAD library for the no-lost-files test (nolost.sh).
 *
 * It changes how write() and fsync() behave on one file only: the atomic
 * writer's temporary for the target named by QLENS_SHIM_TARGET (a base name;
 * src/fileio.c names the temporary ".<base>.<pid>.<n>.tmp" in the target's
 * folder).  Which descriptor that is comes from /proc/self/fd.  Every other
 * descriptor, including the target itself, goes straight through.
 *
 *   QLENS_SHIM_MODE=slow    write at most 256 bytes per call and sleep 4 ms
 *                           before each, so the write has a window wide enough
 *                           for the test to kill the program inside it
 *   QLENS_SHIM_MODE=kill    write at most 256 bytes per call and count the
 *                           steps of the save: each write, the fsync, the
 *                           rename (once before, once after it); the process
 *                           sends itself SIGKILL at step QLENS_SHIM_KILL_AT
 *                           (1-based; 0 or past the last step: no kill).  At
 *                           exit the number of steps is written to the file
 *                           QLENS_SHIM_STEPS when that is set.
 *   QLENS_SHIM_MODE=enospc  write fails with ENOSPC (a full disk)
 *   QLENS_SHIM_MODE=fsync   write works, fsync fails with ENOSPC (delayed
 *                           allocation on a full disk reports it there)
 *
 * With AddressSanitizer, libasan must come first in LD_PRELOAD; its write
 * interceptor then finds this write() as the next definition, so the shim
 * works in the sanitizer build as well.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef int (*fsync_fn)(int);
typedef int (*rename_fn)(const char *, const char *);

static long steps;

static bool is_mode(const char *m)
{
	const char *v = getenv("QLENS_SHIM_MODE");
	return v && strcmp(v, m) == 0;
}

/* kill mode: one more step of the save; SIGKILL when it is the chosen one */
static void step(void)
{
	if (!is_mode("kill"))
		return;
	steps++;
	const char *at = getenv("QLENS_SHIM_KILL_AT");
	if (at && atol(at) == steps)
		raise(SIGKILL);
}

__attribute__((destructor)) static void report_steps(void)
{
	const char *out = getenv("QLENS_SHIM_STEPS");
	if (!out || !is_mode("kill"))
		return;
	FILE *f = fopen(out, "w");
	if (f) {
		fprintf(f, "%ld\n", steps);
		fclose(f);
	}
}

/* Is path (a name, not a descriptor) the temporary for QLENS_SHIM_TARGET? */
static bool is_tmp_name(const char *path);

static bool is_tmp_name(const char *path)
{
	const char *target = getenv("QLENS_SHIM_TARGET");
	if (!target || !*target)
		return false;
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t tl = strlen(target), bl = strlen(base);
	return base[0] == '.' && strncmp(base + 1, target, tl) == 0 && base[1 + tl] == '.' &&
	       bl > 4 && strcmp(base + bl - 4, ".tmp") == 0;
}

/* Is fd the writer's temporary for the target QLENS_SHIM_TARGET? */
static bool is_target_tmp(int fd)
{
	if (!getenv("QLENS_SHIM_TARGET"))
		return false;
	char link[64], path[4096];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof path - 1);
	if (n <= 0)
		return false;
	path[n] = '\0';
	return is_tmp_name(path);
}

static const char *mode(void)
{
	const char *m = getenv("QLENS_SHIM_MODE");
	return m ? m : "";
}

ssize_t write(int fd, const void *buf, size_t count)
{
	static write_fn real;
	if (!real)
		real = (write_fn)dlsym(RTLD_NEXT, "write");
	if (count && is_target_tmp(fd)) {
		if (strcmp(mode(), "enospc") == 0) {
			errno = ENOSPC;
			return -1;
		}
		if (strcmp(mode(), "slow") == 0)
			nanosleep(&(struct timespec){ .tv_nsec = 4000000 }, NULL);
		if (count > 256 && (strcmp(mode(), "slow") == 0 || strcmp(mode(), "kill") == 0))
			count = 256;
		step();
	}
	return real(fd, buf, count);
}

int fsync(int fd)
{
	static fsync_fn real;
	if (!real)
		real = (fsync_fn)dlsym(RTLD_NEXT, "fsync");
	if (is_target_tmp(fd)) {
		if (strcmp(mode(), "fsync") == 0) {
			errno = ENOSPC;
			return -1;
		}
		step();
	}
	return real(fd);
}

int rename(const char *from, const char *to)
{
	static rename_fn real;
	if (!real)
		real = (rename_fn)dlsym(RTLD_NEXT, "rename");
	bool ours = is_tmp_name(from);
	if (ours)
		step();
	int r = real(from, to);
	if (ours)
		step();
	return r;
}
