/*
 * fileio.c - bounded whole-file reads and crash-safe atomic writes.
 *
 * Why: qlens overwrites policies, reports and .npy arrays of which a good
 * copy usually exists already; a crash, a full disk or a kill halfway through
 * a save must never leave a torn file in its place.
 *
 * How the writer works: atomic_file_open creates a uniquely named temporary
 * (".<name>.<pid>.<n>.tmp") in the target's own folder, because rename() is
 * only atomic within one file system.  It is created with O_EXCL and mode 0644
 * so the umask applies exactly as for any new file; when the target already
 * exists its permission bits are copied onto the temporary instead.  Pieces
 * are written with a loop that survives short writes and EINTR; a failed write
 * poisons the handle so a later commit cannot publish a partial file.  Commit
 * is fsync(file), close (NFS reports write errors there), rename over the
 * target, then fsync of the folder so the rename itself survives a power cut.
 * Any failure before the rename unlinks the temporary, leaving the old file
 * untouched.  A target that is a symbolic link is resolved first, so the link
 * survives and the file it points to is the one replaced.
 *
 * Only a kill (SIGKILL, power loss) can leave a temporary behind: the target is
 * still whole, but ".<name>.<pid>.<n>.tmp" stays in the folder.  The next save
 * of the same target removes such leftovers when their process no longer
 * exists (kill(pid, 0) fails with ESRCH) and they have not been modified for
 * STALE_TMP_SECONDS, so a live writer's temporary is never touched.
 *
 * file_read_all reads into a growing buffer rather than trusting st_size:
 * files change under us and some (/proc) report size 0.  The limit is checked
 * on the bytes actually read.  Files are opened with O_NONBLOCK so that a FIFO
 * named by mistake is refused instead of blocking the program.
 */
#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A leftover temporary of a dead process is removed once it is this old. */
#define STALE_TMP_SECONDS 10

/* Largest single read()/write() request; Linux caps them near 2 GiB anyway. */
#define IO_CHUNK ((size_t)1 << 30)

/* strerror() is not thread-safe and the worker thread saves files too. */
static const char *errno_str(int errnum, char *buf, size_t size)
{
	if (strerror_r(errnum, buf, size) != 0)
		snprintf(buf, size, "error %d", errnum);
	return buf;
}

static enum status io_error(struct err *e, const char *path, const char *what, int errnum)
{
	char eb[128];
	return err_set(e, ERR_IO, "%s: %s%s%s", path, what, *what ? ": " : "",
		       errno_str(errnum, eb, sizeof eb));
}

/* ---- reading --------------------------------------------------------------- */

enum status file_read_all(const char *path, size_t max_bytes, void **buf, size_t *len,
			  struct err *e)
{
	*buf = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return io_error(e, path, "", errno);
	enum status st = OK;
	char *p = NULL;
	struct stat sb;
	if (fstat(fd, &sb) != 0) {
		st = io_error(e, path, "", errno);
		goto done;
	}
	if (!S_ISREG(sb.st_mode)) {
		st = err_set(e, ERR_IO, "%s: not a regular file", path);
		goto done;
	}
	if ((uintmax_t)sb.st_size > max_bytes) {
		st = err_set(e, ERR_LIMIT, "%s: file is %jd bytes, over the %zu-byte limit", path,
			     (intmax_t)sb.st_size, max_bytes);
		goto done;
	}
	/* One byte beyond the limit is enough to prove a file grew past it. */
	size_t hard = max_bytes < SIZE_MAX - 1 ? max_bytes + 1 : SIZE_MAX - 1;
	size_t cap = (size_t)sb.st_size + 1, used = 0;
	if (cap < 256)
		cap = 256 < hard ? 256 : hard;
	p = malloc(cap + 1);
	if (!p) {
		st = err_set(e, ERR_NOMEM, "%s: out of memory for %zu bytes", path, cap);
		goto done;
	}
	for (;;) {
		if (used == cap) {
			if (cap >= hard) {
				st = err_set(e, ERR_LIMIT, "%s: file is over the %zu-byte limit",
					     path, max_bytes);
				goto done;
			}
			size_t ncap = cap > hard / 2 ? hard : cap * 2;
			char *np = realloc(p, ncap + 1);
			if (!np) {
				st = err_set(e, ERR_NOMEM, "%s: out of memory for %zu bytes", path,
					     ncap);
				goto done;
			}
			p = np;
			cap = ncap;
		}
		size_t want = cap - used < IO_CHUNK ? cap - used : IO_CHUNK;
		ssize_t n = read(fd, p + used, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			st = io_error(e, path, "reading", errno);
			goto done;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	if (used > max_bytes) {
		st = err_set(e, ERR_LIMIT, "%s: file is over the %zu-byte limit", path, max_bytes);
		goto done;
	}
	p[used] = '\0';
	*buf = p;
	*len = used;
	p = NULL;
done:
	free(p);
	close(fd);
	return st;
}

/* ---- atomic writing ---------------------------------------------------------- */

struct atomic_file {
	int fd;
	bool failed;	/* a write failed: the temporary must never be published */
	bool created;	/* tmp exists and is ours to unlink */
	char *shown;	/* the path as the caller gave it, for messages */
	char *target;	/* the file to replace (symbolic links resolved) */
	char *dir;	/* target's folder, fsynced after the rename */
	char *tmp;	/* the temporary, a sibling of target */
};

static atomic_uint tmp_counter;

static void af_free(struct atomic_file *f)
{
	free(f->shown);
	free(f->target);
	free(f->dir);
	free(f->tmp);
	free(f);
}

/* Split target into a malloc'ed folder ("." when there is no slash) and a
 * pointer to the last component inside target. */
static char *dir_of(const char *target, const char **base)
{
	const char *slash = strrchr(target, '/');
	if (!slash) {
		*base = target;
		return strdup(".");
	}
	*base = slash + 1;
	size_t n = slash == target ? 1 : (size_t)(slash - target); /* "/x" lives in "/" */
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, target, n);
		d[n] = '\0';
	}
	return d;
}

/* Parse "<digits>.<digits>.tmp" (the part of a temporary's name after
 * ".<base>."); returns the pid, or -1 when name is not such a name. */
static long tmp_pid(const char *name)
{
	char *end;
	if (*name < '0' || *name > '9')
		return -1;
	long pid = strtol(name, &end, 10);
	if (*end != '.' || end[1] < '0' || end[1] > '9' || pid <= 0)
		return -1;
	strtoul(end + 1, &end, 10);
	return strcmp(end, ".tmp") == 0 ? pid : -1;
}

/* Best effort: remove temporaries for this target that a killed process left
 * (".<base>.<pid>.<n>.tmp", pid gone, untouched for STALE_TMP_SECONDS). */
static void remove_stale_tmps(const char *dir, const char *base, int keep)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	time_t now = time(NULL);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		if (n[0] != '.' || strncmp(n + 1, base, (size_t)keep) != 0 || n[1 + keep] != '.')
			continue;
		long pid = tmp_pid(n + 2 + keep);
		if (pid < 0 || pid == (long)getpid() || pid > INT_MAX)
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		struct stat sb;
		if (fstatat(dirfd(d), n, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode) ||
		    now - sb.st_mtime < STALE_TMP_SECONDS)
			continue;
		unlinkat(dirfd(d), n, 0);
	}
	closedir(d);
}

enum status atomic_file_open(const char *path, struct atomic_file **out, struct err *e)
{
	*out = NULL;
	if (!path || !*path)
		return err_set(e, ERR_INVALID, "empty file name");
	struct atomic_file *f = calloc(1, sizeof *f);
	if (!f)
		return err_set(e, ERR_NOMEM, "%s: out of memory", path);
	f->fd = -1;
	enum status st = OK;
	f->shown = strdup(path);
	if (!f->shown)
		goto nomem;

	struct stat sb;
	if (lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode)) {
		f->target = realpath(path, NULL);
		if (!f->target) {
			st = io_error(e, path, "resolving symbolic link", errno);
			goto fail;
		}
	} else {
		f->target = strdup(path);
		if (!f->target)
			goto nomem;
	}

	bool existed = false;
	mode_t mode = 0;
	if (stat(f->target, &sb) == 0) {
		if (!S_ISREG(sb.st_mode)) {
			st = err_set(e, ERR_IO, "%s: exists and is not a regular file", path);
			goto fail;
		}
		existed = true;
		mode = sb.st_mode & 07777;
	} else if (errno != ENOENT) {
		st = io_error(e, path, "", errno);
		goto fail;
	}

	const char *base;
	f->dir = dir_of(f->target, &base);
	if (!f->dir)
		goto nomem;
	if (!*base) {
		st = err_set(e, ERR_INVALID, "%s: names a folder, not a file", path);
		goto fail;
	}
	/* Keep the temporary's name within NAME_MAX even for a long base name. */
	int keep = strlen(base) > 200 ? 200 : (int)strlen(base);
	remove_stale_tmps(f->dir, base, keep);
	size_t cap = strlen(f->dir) + (size_t)keep + 64;
	f->tmp = malloc(cap);
	if (!f->tmp)
		goto nomem;
	for (int tries = 0;; tries++) {
		unsigned n = atomic_fetch_add(&tmp_counter, 1);
		snprintf(f->tmp, cap, "%s/.%.*s.%ld.%u.tmp", f->dir, keep, base, (long)getpid(), n);
		f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (f->fd >= 0) {
			f->created = true;
			break;
		}
		/* a stale temporary of an earlier process with our pid: pick another name */
		if ((errno == EEXIST || errno == EINTR) && tries < 100)
			continue;
		st = io_error(e, path, "creating temporary file", errno);
		goto fail;
	}
	/* An open descriptor stays writable even if the old mode was read-only. */
	if (existed && fchmod(f->fd, mode) != 0) {
		st = io_error(e, path, "copying permissions", errno);
		goto fail;
	}
	*out = f;
	return OK;
nomem:
	st = err_set(e, ERR_NOMEM, "%s: out of memory", path);
fail:
	atomic_file_abort(f);
	return st;
}

enum status atomic_file_write(struct atomic_file *f, const void *data, size_t len, struct err *e)
{
	if (!f)
		return err_set(e, ERR_INVALID, "write to a file that is not open");
	if (f->failed)
		return err_set(e, ERR_IO, "%s: an earlier write failed", f->shown);
	const char *p = data;
	while (len) {
		ssize_t n = write(f->fd, p, len < IO_CHUNK ? len : IO_CHUNK);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			f->failed = true;
			return io_error(e, f->shown, "writing", errno);
		}
		p += n;
		len -= (size_t)n;
	}
	return OK;
}

enum status atomic_file_commit(struct atomic_file *f, struct err *e)
{
	if (!f)
		return err_set(e, ERR_INVALID, "commit of a file that is not open");
	enum status st;
	if (f->failed) {
		st = err_set(e, ERR_IO, "%s: not saved: an earlier write failed", f->shown);
		goto fail;
	}
	if (fsync(f->fd) != 0) {
		st = io_error(e, f->shown, "syncing", errno);
		goto fail;
	}
	int fd = f->fd;
	f->fd = -1;
	if (close(fd) != 0) {
		st = io_error(e, f->shown, "closing", errno);
		goto fail;
	}
	if (rename(f->tmp, f->target) != 0) {
		st = io_error(e, f->shown, "replacing", errno);
		goto fail;
	}
	f->created = false;
	/* The new file is in place.  Make the rename durable; a folder we may not
	 * open for reading, or a file system without directory fsync (EINVAL), is
	 * best effort, but a real I/O error is reported. */
	st = OK;
	int dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) != 0 && errno != EINVAL && errno != ENOTSUP)
			st = io_error(e, f->shown, "saved, but syncing its folder failed", errno);
		close(dfd);
	}
	af_free(f);
	return st;
fail:
	atomic_file_abort(f);
	return st;
}

void atomic_file_abort(struct atomic_file *f)
{
	if (!f)
		return;
	if (f->fd >= 0) {
		close(f->fd);
		f->fd = -1;
	}
	/* never unlink a name we did not create: on EEXIST it is someone else's */
	if (f->created)
		unlink(f->tmp);
	af_free(f);
}

enum status file_write_atomic(const char *path, const void *data, size_t len, struct err *e)
{
	struct atomic_file *f;
	enum status st = atomic_file_open(path, &f, e);
	if (st)
		return st;
	st = atomic_file_write(f, data, len, e);
	if (st) {
		atomic_file_abort(f);
		return st;
	}
	return atomic_file_commit(f, e);
}
