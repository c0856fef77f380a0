/*
 * test_fileio.c - bounded whole-file reads and atomic writes.
 *
 * Checks contents, permission bits, that no temporary is ever left behind,
 * that a failed write (a real EFBIG from RLIMIT_FSIZE, as on a full disk)
 * leaves the old file intact, that symbolic links survive, and that two
 * threads replacing one file never produce a mix of their contents.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"

static char tmpdir[256];

static int group_setup(void **state)
{
	const char *base = getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/qlens-test-fileio-XXXXXX",
		 base && *base ? base : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Each test gets an empty folder so that leftover files can be counted. */
static char dir[300];

static int setup(void **state)
{
	static int n;
	snprintf(dir, sizeof dir, "%s/t%d", tmpdir, n++);
	return mkdir(dir, 0755);
}

static const char *in_dir(const char *name)
{
	static char buf[4][512];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
	return buf[k];
}

static int count_entries(void)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void put(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void assert_file_is(const char *path, const void *want, size_t len)
{
	void *buf;
	size_t got;
	struct err e;
	if (file_read_all(path, 1 << 20, &buf, &got, &e))
		fail_msg("%s", e.msg);
	assert_int_equal(got, len);
	assert_memory_equal(buf, want, len);
	free(buf);
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("message \"%s\" does not contain \"%s\"", hay, needle);
}

static mode_t mode_of(const char *path)
{
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	return sb.st_mode & 07777;
}

/* ---- file_read_all -------------------------------------------------------------- */

static void test_read_all(void **state)
{
	const char *p = in_dir("a.txt");
	put(p, "hello\nworld", 0644);
	void *buf;
	size_t len;
	struct err e;
	assert_int_equal(file_read_all(p, 100, &buf, &len, &e), OK);
	assert_int_equal(len, 11);
	assert_string_equal(buf, "hello\nworld"); /* NUL one past the end */
	free(buf);

	/* exactly at the limit is fine, one byte over is not */
	assert_int_equal(file_read_all(p, 11, &buf, &len, &e), OK);
	free(buf);
	assert_int_equal(file_read_all(p, 10, &buf, &len, &e), ERR_LIMIT);
	assert_null(buf);
	assert_int_equal(len, 0);
	assert_contains(e.msg, "a.txt: file is 11 bytes, over the 10-byte limit");

	put(p, "", 0644);
	assert_int_equal(file_read_all(p, 0, &buf, &len, &e), OK);
	assert_int_equal(len, 0);
	assert_non_null(buf);
	assert_string_equal(buf, "");
	free(buf);
}

static void test_read_all_larger_than_buffer_steps(void **state)
{
	/* 100000 bytes crosses several buffer doublings and the initial st_size guess */
	size_t n = 100000;
	char *data = malloc(n);
	assert_non_null(data);
	for (size_t i = 0; i < n; i++)
		data[i] = (char)('a' + i % 26);
	struct err e;
	const char *p = in_dir("big");
	assert_int_equal(file_write_atomic(p, data, n, &e), OK);
	assert_file_is(p, data, n);
	free(data);
}

/* /proc files report size 0 yet have content; the limit still holds. */
static void test_read_all_proc(void **state)
{
	void *buf;
	size_t len;
	struct err e;
	assert_int_equal(file_read_all("/proc/self/status", 1 << 20, &buf, &len, &e), OK);
	assert_true(len > 100);
	assert_non_null(strstr(buf, "Pid:"));
	free(buf);
	assert_int_equal(file_read_all("/proc/self/status", 50, &buf, &len, &e), ERR_LIMIT);
	assert_null(buf);
}

static void test_read_all_errors(void **state)
{
	void *buf;
	size_t len;
	struct err e;
	assert_int_equal(file_read_all(in_dir("none"), 10, &buf, &len, &e), ERR_IO);
	assert_contains(e.msg, "/none: No such file or directory");
	assert_int_equal(file_read_all(dir, 10, &buf, &len, &e), ERR_IO);
	assert_contains(e.msg, "not a regular file");
	/* a FIFO without a writer: refused at once, not a hang */
	const char *fifo = in_dir("fifo");
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(file_read_all(fifo, 10, &buf, &len, &e), ERR_IO);
	assert_contains(e.msg, "not a regular file");
}

/* ---- file_write_atomic ---------------------------------------------------------- */

static void test_write_new_file(void **state)
{
	struct err e;
	mode_t old = umask(022);
	const char *p = in_dir("new.bin");
	assert_int_equal(file_write_atomic(p, "abc\0def", 7, &e), OK);
	assert_file_is(p, "abc\0def", 7);
	assert_int_equal(mode_of(p), 0644);
	/* the umask applies to new files, as for any other program */
	umask(077);
	const char *q = in_dir("private.bin");
	assert_int_equal(file_write_atomic(q, "x", 1, &e), OK);
	assert_int_equal(mode_of(q), 0600);
	umask(old);
	/* an empty file is a file */
	const char *z = in_dir("empty");
	assert_int_equal(file_write_atomic(z, NULL, 0, &e), OK);
	assert_file_is(z, "", 0);
	assert_int_equal(count_entries(), 3);
}

static void test_write_replaces_and_keeps_mode(void **state)
{
	struct err e;
	const char *p = in_dir("keep");
	put(p, "old contents that are longer", 0600);
	assert_int_equal(file_write_atomic(p, "new", 3, &e), OK);
	assert_file_is(p, "new", 3);
	assert_int_equal(mode_of(p), 0600);
	chmod(p, 0444); /* read-only files are replaced too, and stay read-only */
	assert_int_equal(file_write_atomic(p, "newer", 5, &e), OK);
	assert_file_is(p, "newer", 5);
	assert_int_equal(mode_of(p), 0444);
	assert_int_equal(count_entries(), 1);
}

static void test_write_relative_path(void **state)
{
	struct err e;
	char cwd[512];
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(chdir(dir), 0);
	enum status st = file_write_atomic("rel.txt", "r", 1, &e);
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(st, OK);
	assert_file_is(in_dir("rel.txt"), "r", 1);
	assert_int_equal(count_entries(), 1);
}

static void test_write_through_symlink(void **state)
{
	struct err e;
	const char *target = in_dir("real");
	put(target, "old", 0640);
	const char *link = in_dir("link");
	assert_int_equal(symlink("real", link), 0);
	assert_int_equal(file_write_atomic(link, "via link", 8, &e), OK);
	struct stat sb;
	assert_int_equal(lstat(link, &sb), 0);
	assert_true(S_ISLNK(sb.st_mode));
	assert_file_is(target, "via link", 8);
	assert_int_equal(mode_of(target), 0640);
	assert_int_equal(count_entries(), 2);
}

static void test_write_errors(void **state)
{
	struct err e;
	assert_int_equal(file_write_atomic(in_dir("no/such/folder/x"), "a", 1, &e), ERR_IO);
	assert_contains(e.msg, "no/such/folder/x: creating temporary file: No such file");
	assert_int_equal(file_write_atomic(dir, "a", 1, &e), ERR_IO);
	assert_contains(e.msg, "not a regular file");
	assert_int_equal(file_write_atomic("", "a", 1, &e), ERR_INVALID);
	const char *slash = in_dir("sub/");
	assert_int_equal(file_write_atomic(slash, "a", 1, &e), ERR_INVALID);
	assert_contains(e.msg, "names a folder");
	assert_int_equal(count_entries(), 0);
}

/* ---- streaming, failure and abort ---------------------------------------------- */

static void test_stream_commit_and_abort(void **state)
{
	struct err e;
	const char *p = in_dir("stream");
	put(p, "before", 0644);
	struct atomic_file *f;
	assert_int_equal(atomic_file_open(p, &f, &e), OK);
	assert_int_equal(count_entries(), 2); /* the temporary sits beside the target */
	assert_int_equal(atomic_file_write(f, "one ", 4, &e), OK);
	assert_int_equal(atomic_file_write(f, "two", 3, &e), OK);
	assert_file_is(p, "before", 6); /* nothing visible before commit */
	atomic_file_abort(f);
	assert_file_is(p, "before", 6);
	assert_int_equal(count_entries(), 1);

	assert_int_equal(atomic_file_open(p, &f, &e), OK);
	assert_int_equal(atomic_file_write(f, "one ", 4, &e), OK);
	assert_int_equal(atomic_file_write(f, "two", 3, &e), OK);
	assert_int_equal(atomic_file_commit(f, &e), OK);
	assert_file_is(p, "one two", 7);
	assert_int_equal(count_entries(), 1);
	atomic_file_abort(NULL);
}

/* A write that fails part-way (EFBIG, like ENOSPC on a full disk) leaves the old
 * file untouched, no temporary, and a commit after it is refused. */
static void test_failed_write_keeps_old_file(void **state)
{
	struct err e;
	const char *p = in_dir("precious");
	put(p, "precious data", 0644);
	struct rlimit old;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
	struct rlimit small = old;
	small.rlim_cur = 4096;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);

	char big[10000];
	memset(big, 'x', sizeof big);
	enum status st1 = file_write_atomic(p, big, sizeof big, &e);
	char msg1[ERR_MSG_MAX];
	memcpy(msg1, e.msg, sizeof msg1);

	struct atomic_file *f;
	enum status st2 = atomic_file_open(p, &f, &e);
	enum status st3 = st2 ? st2 : atomic_file_write(f, big, sizeof big, &e);
	enum status st4 = st2 ? st2 : atomic_file_write(f, "y", 1, &e);
	enum status st5 = st2 ? st2 : atomic_file_commit(f, &e);

	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, oldsig);

	assert_int_equal(st1, ERR_IO);
	assert_contains(msg1, "precious: writing: File too large");
	assert_int_equal(st2, OK);
	assert_int_equal(st3, ERR_IO);
	assert_int_equal(st4, ERR_IO); /* poisoned */
	assert_int_equal(st5, ERR_IO);
	assert_contains(e.msg, "not saved: an earlier write failed");
	assert_file_is(p, "precious data", 13);
	assert_int_equal(count_entries(), 1);
}

/* Two threads replacing one file: every read sees one whole version. */
#define RACE_ROUNDS 40
#define RACE_BYTES 20000

struct racer {
	const char *path;
	char fill;
	int failures;
};

static atomic_int racers_done;

static void *race(void *arg)
{
	struct racer *r = arg;
	char *buf = malloc(RACE_BYTES);
	if (!buf) {
		r->failures++;
		return NULL;
	}
	memset(buf, r->fill, RACE_BYTES);
	for (int i = 0; i < RACE_ROUNDS; i++) {
		struct err e;
		if (file_write_atomic(r->path, buf, RACE_BYTES, &e))
			r->failures++;
	}
	free(buf);
	atomic_fetch_add(&racers_done, 1);
	return NULL;
}

static void test_concurrent_writers(void **state)
{
	char path[512];
	snprintf(path, sizeof path, "%s", in_dir("raced"));
	struct racer a = { path, 'a', 0 }, b = { path, 'b', 0 };
	pthread_t ta, tb;
	assert_int_equal(pthread_create(&ta, NULL, race, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, race, &b), 0);
	int torn = 0, reads = 0;
	atomic_store(&racers_done, 0);
	while (atomic_load(&racers_done) < 2) {
		void *buf;
		size_t len;
		struct err e;
		if (file_read_all(path, 1 << 20, &buf, &len, &e))
			continue; /* not created yet */
		reads++;
		const char *c = buf;
		if (len != RACE_BYTES || memchr(c, c[0] == 'a' ? 'b' : 'a', len))
			torn++;
		free(buf);
	}
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_int_equal(a.failures + b.failures, 0);
	assert_int_equal(torn, 0);
	assert_true(reads > 0);
	assert_int_equal(count_entries(), 1);
}

/* A killed writer's temporary: the next save of the same target removes it
 * once its process is gone and it is older than 10 s; a live process's
 * temporary, a young one and another target's stay. */
static void test_stale_temporaries_removed(void **state)
{
	(void)state;
	pid_t dead = fork();
	assert_true(dead >= 0);
	if (dead == 0)
		_exit(0);
	assert_int_equal(waitpid(dead, NULL, 0), dead);
	char old_dead[64], young_dead[64], live[64], other[64];
	snprintf(old_dead, sizeof old_dead, ".p.json.%ld.3.tmp", (long)dead);
	snprintf(young_dead, sizeof young_dead, ".p.json.%ld.4.tmp", (long)dead);
	snprintf(live, sizeof live, ".p.json.%ld.0.tmp", (long)getppid());
	snprintf(other, sizeof other, ".q.json.%ld.0.tmp", (long)dead);
	const char *names[] = { old_dead, young_dead, live, other };
	struct timespec past[2] = { { .tv_sec = time(NULL) - 60 }, { .tv_sec = time(NULL) - 60 } };
	for (int i = 0; i < 4; i++) {
		put(in_dir(names[i]), "half", 0644);
		if (i != 1)
			assert_int_equal(utimensat(AT_FDCWD, in_dir(names[i]), past, 0), 0);
	}
	struct err e;
	assert_int_equal(file_write_atomic(in_dir("p.json"), "new", 3, &e), OK);
	assert_file_is(in_dir("p.json"), "new", 3);
	assert_int_equal(access(in_dir(old_dead), F_OK), -1);
	for (int i = 1; i < 4; i++)
		assert_int_equal(access(in_dir(names[i]), F_OK), 0);
	assert_int_equal(count_entries(), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_read_all, setup),
		cmocka_unit_test_setup(test_read_all_larger_than_buffer_steps, setup),
		cmocka_unit_test_setup(test_read_all_proc, setup),
		cmocka_unit_test_setup(test_read_all_errors, setup),
		cmocka_unit_test_setup(test_write_new_file, setup),
		cmocka_unit_test_setup(test_write_replaces_and_keeps_mode, setup),
		cmocka_unit_test_setup(test_write_relative_path, setup),
		cmocka_unit_test_setup(test_write_through_symlink, setup),
		cmocka_unit_test_setup(test_write_errors, setup),
		cmocka_unit_test_setup(test_stream_commit_and_abort, setup),
		cmocka_unit_test_setup(test_failed_write_keeps_old_file, setup),
		cmocka_unit_test_setup(test_concurrent_writers, setup),
		cmocka_unit_test_setup(test_stale_temporaries_removed, setup),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
