/*
 * onnx_load.c - ONNX ModelProto -> struct graph.
 *
 * This is the only file that sees protobuf-c's generated types.  Loading is
 * four steps, each of which can refuse the input with a message that names
 * the file and the offending element:
 *
 *  1. onnx_wire_check() scans the raw bytes iteratively: malformed varints,
 *     truncated fields, bad wire types and nesting deeper than ONNX_MAX_DEPTH
 *     are refused before protobuf-c (which recurses without a limit) runs.
 *  2. protobuf-c unpacks through an allocator with a byte budget, because a
 *     small file of empty sub-messages can make it allocate ~100x its size.
 *  3. The message is copied into our IR: every string, attribute and tensor
 *     lands in the graph's arena, so the protobuf message is freed at once
 *     and nothing downstream ever sees protobuf types.  Initializers and
 *     Constant nodes become VAL_CONST values; graph inputs that are also
 *     initializers are constants, not inputs.  Tensor data is validated
 *     against its declared shape and element type (raw_data or the typed
 *     field the ONNX spec assigns to that type), and external data is read
 *     only from regular, singly linked files inside the model's folder,
 *     walking the path one component at a time with O_NOFOLLOW so no
 *     symbolic link can lead outside it.
 *  4. graph_finalize() resolves ops and checks the structure (undefined
 *     inputs, cycles, unsupported ops).
 *
 * Nodes are converted in two passes: the first creates every node output
 * (so a graph whose nodes are not in topological order still loads), the
 * second resolves inputs.  An input that nothing defines becomes a
 * placeholder value that graph_finalize reports by name.
 */
#include "onnx_load.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx.pb-c.h"
#include "onnx_wire.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "raw_data is little-endian; qlens assumes a little-endian host"
#endif

/* ---- byte-budget allocator for protobuf-c ------------------------------- */

struct budget {
	size_t used, limit;
	bool exceeded;
};

union block_head {
	size_t size;
	max_align_t align;
};

static void *budget_alloc(void *data, size_t size)
{
	struct budget *b = data;
	size_t need = size + sizeof(union block_head);
	if (need < size || need > b->limit - b->used) {
		b->exceeded = true;
		return NULL;
	}
	union block_head *h = malloc(need);
	if (!h)
		return NULL;
	h->size = need;
	b->used += need;
	return h + 1;
}

static void budget_free(void *data, void *p)
{
	struct budget *b = data;
	if (!p)
		return;
	union block_head *h = (union block_head *)p - 1;
	b->used -= h->size;
	free(h);
}

/* ---- unique node names -------------------------------------------------- */

struct nameset {
	const char **slots;
	size_t cap, count;
};

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

static bool nameset_has(const struct nameset *ns, const char *s)
{
	if (!ns->cap)
		return false;
	for (size_t h = str_hash(s) & (ns->cap - 1); ns->slots[h]; h = (h + 1) & (ns->cap - 1))
		if (strcmp(ns->slots[h], s) == 0)
			return true;
	return false;
}

/* s must outlive the set (it lives in the graph arena). */
static bool nameset_add(struct nameset *ns, const char *s)
{
	if ((ns->count + 1) * 2 > ns->cap) {
		size_t cap = ns->cap ? ns->cap * 2 : 64;
		const char **slots = calloc(cap, sizeof *slots);
		if (!slots)
			return false;
		for (size_t i = 0; i < ns->cap; i++) {
			if (!ns->slots[i])
				continue;
			size_t h = str_hash(ns->slots[i]) & (cap - 1);
			while (slots[h])
				h = (h + 1) & (cap - 1);
			slots[h] = ns->slots[i];
		}
		free(ns->slots);
		ns->slots = slots;
		ns->cap = cap;
	}
	size_t h = str_hash(s) & (ns->cap - 1);
	while (ns->slots[h])
		h = (h + 1) & (ns->cap - 1);
	ns->slots[h] = s;
	ns->count++;
	return true;
}

/* ---- loader state --------------------------------------------------------- */

struct loader {
	struct graph *g;
	const char *base_dir; /* NULL: external data refused */
	struct nameset node_names;
	size_t name_counter; /* suffix for de-duplicated node names */
};

static const char *str_or_empty(const char *s) { return s ? s : ""; }

static enum status nomem(struct err *e) { return err_set(e, ERR_NOMEM, "out of memory"); }

/* A 4-bit type stores two elements per byte in raw_data and int32_data. */
static bool dtype_is_4bit(enum dtype t) { return t == DT_INT4 || t == DT_UINT4; }

static enum status check_dtype(int32_t id, struct err *e)
{
	if (id == 0)
		return err_set(e, ERR_FORMAT, "element type is undefined");
	if (id == 8)
		return err_set(e, ERR_UNSUPPORTED, "string tensors are not supported");
	if (id == 14 || id == 15)
		return err_set(e, ERR_UNSUPPORTED, "complex tensors are not supported");
	if (!dtype_valid(id))
		return err_set(e, ERR_UNSUPPORTED, "unknown element type %" PRId32, id);
	return OK;
}

/* ---- external data -------------------------------------------------------- */

/* Strict decimal int64; negative values are reported as such. */
static enum status parse_i64(const char *key, const char *s, int64_t *out, struct err *e)
{
	const char *p = s;
	if (*p == '-')
		return err_set(e, ERR_FORMAT, "external data %s '%s' is negative", key, s);
	if (!*p)
		return err_set(e, ERR_FORMAT, "external data %s is empty", key);
	int64_t v = 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return err_set(e, ERR_FORMAT, "external data %s '%s' is not a number", key,
				       s);
		int d = *p - '0';
		if (v > (INT64_MAX - d) / 10)
			return err_set(e, ERR_LIMIT, "external data %s '%s' is too large", key, s);
		v = v * 10 + d;
	}
	*out = v;
	return OK;
}

static enum status read_full(int fd, void *dst, size_t n, int64_t off, struct err *e)
{
	char *p = dst;
	while (n > 0) {
		size_t chunk = n > ((size_t)1 << 30) ? (size_t)1 << 30 : n;
		ssize_t r = pread(fd, p, chunk, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_set(e, ERR_IO, "read failed: %s", strerror(errno));
		if (r == 0)
			return err_set(e, ERR_IO, "file shrank while reading");
		p += r;
		n -= (size_t)r;
		off += r;
	}
	return OK;
}

/*
 * Open `loc` relative to base_dir without following any symbolic link and
 * without leaving the folder.  Each component is lstat'ed (for a clear
 * message) and then opened with O_NOFOLLOW (so a link swapped in between
 * still cannot be followed).  Returns the fd of a regular file with one link.
 */
static enum status open_external(const char *base_dir, const char *loc, int *fd_out,
				 struct stat *st_out, struct err *e)
{
	if (!loc[0])
		return err_set(e, ERR_FORMAT, "external data location is empty");
	if (loc[0] == '/')
		return err_set(e, ERR_INVALID,
			       "external data location '%s' is an absolute path; it must be "
			       "relative to the model's folder", loc);
	char *path = strdup(loc);
	if (!path)
		return nomem(e);
	/* refuse '..' anywhere before touching the file system */
	for (char *c = path; c;) {
		char *slash = strchr(c, '/');
		size_t n = slash ? (size_t)(slash - c) : strlen(c);
		if (n == 2 && c[0] == '.' && c[1] == '.') {
			free(path);
			return err_set(e, ERR_INVALID,
				       "external data location '%s' contains '..'; it must stay "
				       "inside the model's folder", loc);
		}
		c = slash ? slash + 1 : NULL;
	}
	enum status st = OK;
	int dfd = open(base_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		st = err_set(e, ERR_IO, "cannot open model folder '%s': %s", base_dir,
			     strerror(errno));
		goto done;
	}
	char *c = path;
	for (;;) {
		char *slash = strchr(c, '/');
		if (slash)
			*slash = '\0';
		bool last = !slash;
		if (!last && (c[0] == '\0' || strcmp(c, ".") == 0)) {
			c = slash + 1;
			continue;
		}
		if (last && (c[0] == '\0' || strcmp(c, ".") == 0)) {
			st = err_set(e, ERR_INVALID, "external data location '%s' names a folder",
				     loc);
			goto done;
		}
		struct stat st_c;
		if (fstatat(dfd, c, &st_c, AT_SYMLINK_NOFOLLOW) != 0) {
			st = err_set(e, ERR_IO, "external data file '%s': %s", loc,
				     strerror(errno));
			goto done;
		}
		if (S_ISLNK(st_c.st_mode)) {
			st = err_set(e, ERR_INVALID,
				     "external data file '%s': '%s' is a symbolic link, which is "
				     "not followed", loc, c);
			goto done;
		}
		if (!last) {
			if (!S_ISDIR(st_c.st_mode)) {
				st = err_set(e, ERR_INVALID,
					     "external data file '%s': '%s' is not a folder", loc, c);
				goto done;
			}
			int nfd = openat(dfd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (nfd < 0) {
				st = err_set(e, ERR_IO, "external data file '%s': cannot open '%s': %s",
					     loc, c, strerror(errno));
				goto done;
			}
			close(dfd);
			dfd = nfd;
			c = slash + 1;
			continue;
		}
		if (!S_ISREG(st_c.st_mode)) {
			st = err_set(e, ERR_INVALID, "external data file '%s' is not a regular file",
				     loc);
			goto done;
		}
		int fd = openat(dfd, c, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (fd < 0) {
			st = err_set(e, ERR_IO, "external data file '%s': %s", loc,
				     strerror(errno));
			goto done;
		}
		struct stat sf;
		if (fstat(fd, &sf) != 0 || !S_ISREG(sf.st_mode)) {
			close(fd);
			st = err_set(e, ERR_INVALID, "external data file '%s' is not a regular file",
				     loc);
			goto done;
		}
		if (sf.st_nlink != 1) {
			close(fd);
			st = err_set(e, ERR_INVALID,
				     "external data file '%s' has %ju hard links; only a file with "
				     "a single link is accepted", loc, (uintmax_t)sf.st_nlink);
			goto done;
		}
		*fd_out = fd;
		*st_out = sf;
		break;
	}
done:
	if (dfd >= 0)
		close(dfd);
	free(path);
	return st;
}

/*
 * Check tp's external data description against the file it names: the file
 * is opened (see open_external) and must hold exactly `want` bytes at the
 * offset.  On success *fd is open and *offset set; nothing is allocated yet,
 * so a hostile shape cannot make us allocate before the file vouches for it.
 */
static enum status external_open(const struct loader *L, const Onnx__TensorProto *tp,
				 size_t want, int *fd_out, int64_t *off_out, const char **loc_out,
				 struct err *e)
{
	if (!L->base_dir)
		return err_set(e, ERR_UNSUPPORTED,
			       "external data cannot be used when the model is loaded from memory");
	const char *loc = NULL;
	int64_t offset = 0, length = -1;
	for (size_t i = 0; i < tp->n_external_data; i++) {
		const Onnx__StringStringEntryProto *kv = tp->external_data[i];
		const char *k = str_or_empty(kv->key), *v = str_or_empty(kv->value);
		enum status st = OK;
		if (strcmp(k, "location") == 0)
			loc = v;
		else if (strcmp(k, "offset") == 0)
			st = parse_i64("offset", v, &offset, e);
		else if (strcmp(k, "length") == 0)
			st = parse_i64("length", v, &length, e);
		if (st)
			return st;
	}
	if (!loc)
		return err_set(e, ERR_FORMAT, "external data has no location");
	int fd = -1;
	struct stat sf = { 0 };
	enum status st = open_external(L->base_dir, loc, &fd, &sf, e);
	if (st)
		return st;
	int64_t size = (int64_t)sf.st_size;
	if (offset > size) {
		st = err_set(e, ERR_FORMAT,
			     "external data offset %" PRId64 " is past the end of '%s' (%" PRId64
			     " bytes)", offset, loc, size);
		goto fail;
	}
	if (length < 0)
		length = size - offset;
	if ((uint64_t)length != (uint64_t)want) {
		st = err_set(e, ERR_FORMAT,
			     "external data length %" PRId64 " does not match the tensor's %zu bytes",
			     length, want);
		goto fail;
	}
	if (length > size - offset) {
		st = err_set(e, ERR_FORMAT,
			     "external data range %" PRId64 "+%" PRId64 " runs past the end of '%s' (%"
			     PRId64 " bytes)", offset, length, loc, size);
		goto fail;
	}
	*fd_out = fd;
	*off_out = offset;
	*loc_out = loc;
	return OK;
fail:
	close(fd);
	return st;
}

/* ---- tensors -------------------------------------------------------------- */

static void unpack_4bit(uint8_t *dst, const uint8_t *packed, int64_t n, bool is_signed)
{
	for (int64_t i = 0; i < n; i++) {
		unsigned nib = (packed[i / 2] >> (4 * (i & 1))) & 0xf;
		dst[i] = is_signed ? (uint8_t)(int8_t)((int)(nib ^ 8) - 8) : (uint8_t)nib;
	}
}

static enum status count_mismatch(size_t have, int64_t need, const char *field, struct err *e)
{
	return err_set(e, ERR_FORMAT, "%s holds %zu values, the shape needs %" PRId64, field, have,
		       need);
}

/* Narrow int32_data into 1- or 2-byte elements with a range check. */
static enum status narrow_int32(void *dst, const int32_t *src, int64_t n, int64_t lo, int64_t hi,
				size_t width, struct err *e)
{
	for (int64_t i = 0; i < n; i++) {
		int64_t v = src[i];
		if (v < lo || v > hi)
			return err_set(e, ERR_FORMAT,
				       "int32_data[%" PRId64 "] = %" PRId64 " is out of range", i, v);
		if (width == 1)
			((uint8_t *)dst)[i] = (uint8_t)(v & 0xff);
		else
			((uint16_t *)dst)[i] = (uint16_t)(v & 0xffff);
	}
	return OK;
}

/* The typed field the spec assigns to dt: its name and how many values it holds. */
static const char *typed_field(const Onnx__TensorProto *tp, enum dtype dt, size_t *count)
{
	switch (dt) {
	case DT_FLOAT:
		*count = tp->n_float_data;
		return "float_data";
	case DT_DOUBLE:
		*count = tp->n_double_data;
		return "double_data";
	case DT_INT64:
		*count = tp->n_int64_data;
		return "int64_data";
	case DT_UINT32:
	case DT_UINT64:
		*count = tp->n_uint64_data;
		return "uint64_data";
	case DT_INT4:
	case DT_UINT4:
		*count = tp->n_int32_data;
		return "int32_data (packed 4-bit)";
	default:
		*count = tp->n_int32_data;
		return "int32_data";
	}
}

/* Fill dst (numel elements of dt) from the typed field the spec assigns to dt. */
static enum status tensor_typed_fill(const Onnx__TensorProto *tp, enum dtype dt, void *dst,
				     int64_t n, struct err *e)
{
	switch (dt) {
	case DT_FLOAT:
		if ((int64_t)tp->n_float_data != n)
			return count_mismatch(tp->n_float_data, n, "float_data", e);
		if (n)
			memcpy(dst, tp->float_data, (size_t)n * 4);
		return OK;
	case DT_DOUBLE:
		if ((int64_t)tp->n_double_data != n)
			return count_mismatch(tp->n_double_data, n, "double_data", e);
		if (n)
			memcpy(dst, tp->double_data, (size_t)n * 8);
		return OK;
	case DT_INT64:
		if ((int64_t)tp->n_int64_data != n)
			return count_mismatch(tp->n_int64_data, n, "int64_data", e);
		if (n)
			memcpy(dst, tp->int64_data, (size_t)n * 8);
		return OK;
	case DT_UINT64:
		if ((int64_t)tp->n_uint64_data != n)
			return count_mismatch(tp->n_uint64_data, n, "uint64_data", e);
		if (n)
			memcpy(dst, tp->uint64_data, (size_t)n * 8);
		return OK;
	case DT_UINT32:
		if ((int64_t)tp->n_uint64_data != n)
			return count_mismatch(tp->n_uint64_data, n, "uint64_data", e);
		for (int64_t i = 0; i < n; i++) {
			if (tp->uint64_data[i] > UINT32_MAX)
				return err_set(e, ERR_FORMAT,
					       "uint64_data[%" PRId64 "] = %" PRIu64 " is out of range "
					       "for uint32", i, tp->uint64_data[i]);
			((uint32_t *)dst)[i] = (uint32_t)tp->uint64_data[i];
		}
		return OK;
	case DT_INT32:
		if ((int64_t)tp->n_int32_data != n)
			return count_mismatch(tp->n_int32_data, n, "int32_data", e);
		if (n)
			memcpy(dst, tp->int32_data, (size_t)n * 4);
		return OK;
	case DT_INT4:
	case DT_UINT4: {
		int64_t packed = (n + 1) / 2;
		if ((int64_t)tp->n_int32_data != packed)
			return count_mismatch(tp->n_int32_data, packed, "int32_data (packed 4-bit)",
					      e);
		uint8_t *tmp = malloc((size_t)packed + 1);
		if (!tmp)
			return nomem(e);
		enum status st = narrow_int32(tmp, tp->int32_data, packed, 0, 255, 1, e);
		if (!st)
			unpack_4bit(dst, tmp, n, dt == DT_INT4);
		free(tmp);
		return st;
	}
	case DT_BOOL:
		if ((int64_t)tp->n_int32_data != n)
			return count_mismatch(tp->n_int32_data, n, "int32_data", e);
		for (int64_t i = 0; i < n; i++)
			((uint8_t *)dst)[i] = tp->int32_data[i] != 0;
		return OK;
	default:
		break;
	}
	/* remaining types: 1- or 2-byte values (or bit patterns) in int32_data */
	int64_t lo = 0, hi = 0;
	size_t width = dtype_size(dt);
	switch (dt) {
	case DT_INT8: lo = INT8_MIN; hi = INT8_MAX; break;
	case DT_INT16: lo = INT16_MIN; hi = INT16_MAX; break;
	case DT_UINT8: case DT_FLOAT8E4M3FN: case DT_FLOAT8E5M2: hi = UINT8_MAX; break;
	case DT_UINT16: case DT_FLOAT16: case DT_BFLOAT16: hi = UINT16_MAX; break;
	default:
		return err_set(e, ERR_UNSUPPORTED, "no typed data field for element type %s",
			       dtype_name(dt));
	}
	if ((int64_t)tp->n_int32_data != n)
		return count_mismatch(tp->n_int32_data, n, "int32_data", e);
	return narrow_int32(dst, tp->int32_data, n, lo, hi, width, e);
}

/* Convert a TensorProto to a tensor whose data lives in the graph arena.
 * Errors do not name the tensor; the caller prefixes it. */
static enum status tensor_from_proto(struct loader *L, const Onnx__TensorProto *tp,
				     struct tensor *out, struct err *e)
{
	if (!tp->has_data_type || tp->data_type == 0)
		return err_set(e, ERR_FORMAT, "has no data type");
	enum status st = check_dtype(tp->data_type, e);
	if (st)
		return st;
	enum dtype dt = (enum dtype)tp->data_type;
	if (tp->n_dims > TENSOR_MAX_RANK)
		return err_set(e, ERR_LIMIT, "rank %zu exceeds the limit of %d", tp->n_dims,
			       TENSOR_MAX_RANK);
	struct shape sh = { .rank = (int)tp->n_dims };
	for (size_t i = 0; i < tp->n_dims; i++)
		sh.dim[i] = tp->dims[i];
	int64_t n;
	size_t es = dtype_size(dt);
	st = shape_numel_checked(&sh, es, &n, e);
	if (st)
		return st;
	if (tp->segment)
		return err_set(e, ERR_UNSUPPORTED, "segmented tensors are not supported");
	size_t nbytes = (size_t)n * es;
	/* bytes on disk: 4-bit types pack two elements per byte */
	size_t stored = dtype_is_4bit(dt) ? (size_t)(n + 1) / 2 : nbytes;
	bool external = tp->has_data_location &&
			tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;

	/* Check the data against the shape before allocating anything: a
	 * 100-byte file may declare a 16 GB tensor. */
	int fd = -1;
	int64_t offset = 0;
	const char *loc = NULL;
	if (external) {
		st = external_open(L, tp, stored, &fd, &offset, &loc, e);
		if (st)
			return st;
	} else if (tp->has_raw_data) {
		if (tp->raw_data.len != stored)
			return err_set(e, ERR_FORMAT,
				       "raw_data has %zu bytes, shape %s of %s needs %zu",
				       tp->raw_data.len, shape_str(&sh, (char[160]){ 0 }, 160),
				       dtype_name(dt), stored);
	} else {
		size_t have;
		const char *field = typed_field(tp, dt, &have);
		int64_t need = dtype_is_4bit(dt) ? (n + 1) / 2 : n;
		if ((uint64_t)have != (uint64_t)need)
			return count_mismatch(have, need, field, e);
	}

	void *data = graph_alloc(L->g, nbytes);
	if (!data) {
		if (fd >= 0)
			close(fd);
		return nomem(e);
	}
	if (external || tp->has_raw_data) {
		void *src = data;
		if (dtype_is_4bit(dt))
			src = malloc(stored + 1);
		if (!src) {
			st = nomem(e);
		} else if (external) {
			st = read_full(fd, src, stored, offset, e);
			if (st)
				err_prefix(e, "external data file '%s'", loc);
		} else if (stored) {
			memcpy(src, tp->raw_data.data, stored);
		}
		if (fd >= 0)
			close(fd);
		if (!st && dtype_is_4bit(dt))
			unpack_4bit(data, src, n, dt == DT_INT4);
		if (!st && dt == DT_BOOL)
			for (int64_t i = 0; i < n; i++)
				((uint8_t *)data)[i] = ((uint8_t *)data)[i] != 0;
		if (src != data)
			free(src);
		if (st)
			return st;
	} else {
		st = tensor_typed_fill(tp, dt, data, n, e);
		if (st)
			return st;
	}
	*out = (struct tensor){ .dtype = dt, .shape = sh, .data = data, .nbytes = nbytes,
				.owned = false };
	return OK;
}

/* ---- value types ---------------------------------------------------------- */

/*
 * Read a value's declared type.  `strict` (graph inputs and outputs) refuses
 * non-tensor types; `need_elem` (graph inputs) also refuses a missing type
 * or element type.  value_info entries that are not tensors are ignored.
 */
static enum status type_from_proto(const Onnx__TypeProto *tp, bool strict, bool need_elem,
				   enum dtype *dt, struct shape *sh, struct err *e)
{
	*dt = DT_UNDEFINED;
	sh->rank = -1;
	if (!tp) {
		if (need_elem)
			return err_set(e, ERR_FORMAT, "has no type");
		return OK;
	}
	if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type) {
		if (!strict)
			return OK;
		const char *kind = "a value of unknown kind";
		switch (tp->value_case) {
		case ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE: kind = "a sequence"; break;
		case ONNX__TYPE_PROTO__VALUE_MAP_TYPE: kind = "a map"; break;
		case ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE: kind = "an optional"; break;
		case ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE: kind = "a sparse tensor"; break;
		default: break;
		}
		if (tp->value_case == ONNX__TYPE_PROTO__VALUE__NOT_SET && need_elem)
			return err_set(e, ERR_FORMAT, "has no type");
		if (tp->value_case == ONNX__TYPE_PROTO__VALUE__NOT_SET)
			return OK;
		return err_set(e, ERR_UNSUPPORTED, "is %s; only tensors are supported", kind);
	}
	const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
	if (!tt->has_elem_type || tt->elem_type == 0) {
		if (need_elem)
			return err_set(e, ERR_FORMAT, "has no element type");
	} else {
		enum status st = check_dtype(tt->elem_type, e);
		if (st)
			return st;
		*dt = (enum dtype)tt->elem_type;
	}
	if (!tt->shape)
		return OK;
	const Onnx__TensorShapeProto *sp = tt->shape;
	if (sp->n_dim > TENSOR_MAX_RANK)
		return err_set(e, ERR_LIMIT, "rank %zu exceeds the limit of %d", sp->n_dim,
			       TENSOR_MAX_RANK);
	struct shape known = { .rank = (int)sp->n_dim };
	sh->rank = (int)sp->n_dim;
	for (size_t i = 0; i < sp->n_dim; i++) {
		const Onnx__TensorShapeProto__Dimension *d = sp->dim[i];
		int64_t v = -1;
		if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
			v = d->dim_value;
			if (v < 0)
				return err_set(e, ERR_SHAPE, "dimension %zu is negative (%" PRId64 ")",
					       i, v);
		}
		sh->dim[i] = v;
		known.dim[i] = v < 0 ? 1 : v;
	}
	/* the known dims alone must not describe an impossibly large tensor */
	int64_t n;
	return shape_numel_checked(&known, *dt ? dtype_size(*dt) : 1, &n, e);
}

/* ---- attributes ----------------------------------------------------------- */

static enum attr_type attr_kind(const Onnx__AttributeProto *ap)
{
	if (ap->has_type) {
		int t = (int)ap->type;
		return t >= ATTR_FLOAT && t <= ATTR_STRINGS ? (enum attr_type)t : ATTR_UNDEFINED;
	}
	/* IR version 1 had no type field: infer it from the field that is set */
	if (ap->has_f)
		return ATTR_FLOAT;
	if (ap->has_i)
		return ATTR_INT;
	if (ap->has_s)
		return ATTR_STRING;
	if (ap->t)
		return ATTR_TENSOR;
	if (ap->g)
		return ATTR_GRAPH;
	if (ap->n_floats)
		return ATTR_FLOATS;
	if (ap->n_ints)
		return ATTR_INTS;
	if (ap->n_strings)
		return ATTR_STRINGS;
	return ATTR_UNDEFINED;
}

static enum status attr_from_proto(struct loader *L, const Onnx__AttributeProto *ap,
				   struct attr *a, struct err *e)
{
	struct graph *g = L->g;
	const char *name = str_or_empty(ap->name);
	if (!name[0])
		return err_set(e, ERR_FORMAT, "an attribute has no name");
	a->name = graph_strdup(g, name);
	if (!a->name)
		return nomem(e);
	a->type = attr_kind(ap);
	switch (a->type) {
	case ATTR_FLOAT:
		a->f = ap->f;
		break;
	case ATTR_INT:
		a->i = ap->i;
		break;
	case ATTR_STRING:
		a->s = graph_strndup(g, ap->s.data ? (const char *)ap->s.data : "", ap->s.len);
		a->s_len = ap->s.len;
		if (!a->s)
			return nomem(e);
		break;
	case ATTR_TENSOR:
		if (ap->t) {
			enum status st = tensor_from_proto(L, ap->t, &a->t, e);
			if (st) {
				err_prefix(e, "attribute '%s'", name);
				return st;
			}
		}
		break;
	case ATTR_FLOATS:
		if (ap->n_floats > INT_MAX)
			return err_set(e, ERR_LIMIT, "attribute '%s' has too many values", name);
		a->n = (int)ap->n_floats;
		if (a->n) {
			float *f = graph_alloc(g, ap->n_floats * sizeof *f);
			if (!f)
				return nomem(e);
			memcpy(f, ap->floats, ap->n_floats * sizeof *f);
			a->floats = f;
		}
		break;
	case ATTR_INTS:
		if (ap->n_ints > INT_MAX)
			return err_set(e, ERR_LIMIT, "attribute '%s' has too many values", name);
		a->n = (int)ap->n_ints;
		if (a->n) {
			int64_t *v = graph_alloc(g, ap->n_ints * sizeof *v);
			if (!v)
				return nomem(e);
			memcpy(v, ap->ints, ap->n_ints * sizeof *v);
			a->ints = v;
		}
		break;
	case ATTR_STRINGS:
		if (ap->n_strings > INT_MAX)
			return err_set(e, ERR_LIMIT, "attribute '%s' has too many values", name);
		a->n = (int)ap->n_strings;
		if (a->n) {
			const char **s = graph_alloc(g, ap->n_strings * sizeof *s);
			if (!s)
				return nomem(e);
			for (size_t i = 0; i < ap->n_strings; i++) {
				const ProtobufCBinaryData *b = &ap->strings[i];
				s[i] = graph_strndup(g, b->data ? (const char *)b->data : "",
						     b->len);
				if (!s[i])
					return nomem(e);
			}
			a->strings = s;
		}
		break;
	case ATTR_GRAPH:     /* subgraphs belong to If/Loop/Scan, which are not supported */
	case ATTR_UNDEFINED: /* tensors/graphs lists, sparse tensors, type protos */
		break;
	}
	return OK;
}

/* ---- nodes ---------------------------------------------------------------- */

static bool is_default_domain(const char *d) { return !d || !d[0] || strcmp(d, "ai.onnx") == 0; }

/*
 * The node's name, or "<op>_<index>" when empty; a name already taken gets
 * "_<k>" appended.  k comes from one counter for the whole graph, so a file
 * of a million nodes all called "a" costs a million probes, not 10^12.
 */
static const char *unique_node_name(struct loader *L, const Onnx__NodeProto *np, size_t index)
{
	char buf[256];
	const char *base = str_or_empty(np->name);
	if (!base[0]) {
		snprintf(buf, sizeof buf, "%.200s_%zu", str_or_empty(np->op_type), index);
		base = buf;
	}
	const char *name = NULL;
	if (!nameset_has(&L->node_names, base)) {
		name = graph_strdup(L->g, base);
	} else {
		size_t blen = strlen(base);
		char *tmp = malloc(blen + 32);
		if (!tmp)
			return NULL;
		do
			snprintf(tmp, blen + 32, "%s_%zu", base, ++L->name_counter);
		while (nameset_has(&L->node_names, tmp));
		name = graph_strdup(L->g, tmp);
		free(tmp);
	}
	if (!name || !nameset_add(&L->node_names, name))
		return NULL;
	return name;
}

/* Turn a Constant node into a VAL_CONST value. */
static enum status constant_node(struct loader *L, const Onnx__NodeProto *np, struct err *e)
{
	struct graph *g = L->g;
	if (np->n_output != 1 || !np->output[0] || !np->output[0][0])
		return err_set(e, ERR_FORMAT, "a Constant node needs exactly one output");
	const char *out = np->output[0];
	const Onnx__AttributeProto *ap = NULL;
	for (size_t i = 0; i < np->n_attribute; i++) {
		const char *an = str_or_empty(np->attribute[i]->name);
		if (strncmp(an, "value", 5) != 0 && strcmp(an, "sparse_value") != 0)
			continue;
		if (ap)
			return err_set(e, ERR_FORMAT, "has more than one value attribute");
		ap = np->attribute[i];
	}
	if (!ap)
		return err_set(e, ERR_FORMAT, "has no value attribute");
	const char *an = ap->name;
	struct tensor t = { 0 };
	enum status st = OK;
	if (strcmp(an, "value") == 0) {
		if (!ap->t)
			return err_set(e, ERR_FORMAT, "attribute 'value' holds no tensor");
		st = tensor_from_proto(L, ap->t, &t, e);
		if (st) {
			err_prefix(e, "attribute 'value'");
			return st;
		}
	} else if (strcmp(an, "value_float") == 0 || strcmp(an, "value_int") == 0) {
		bool is_f = an[6] == 'f';
		struct shape sh = { .rank = 0 };
		void *d = graph_alloc(g, 8);
		if (!d)
			return nomem(e);
		if (is_f)
			*(float *)d = ap->f;
		else
			*(int64_t *)d = ap->i;
		t = tensor_view(is_f ? DT_FLOAT : DT_INT64, &sh, d);
	} else if (strcmp(an, "value_floats") == 0 || strcmp(an, "value_ints") == 0) {
		bool is_f = an[6] == 'f';
		size_t cnt = is_f ? ap->n_floats : ap->n_ints;
		size_t es = is_f ? 4 : 8;
		struct shape sh = { .rank = 1, .dim = { (int64_t)cnt } };
		void *d = graph_alloc(g, cnt * es);
		if (!d)
			return nomem(e);
		if (cnt)
			memcpy(d, is_f ? (const void *)ap->floats : (const void *)ap->ints, cnt * es);
		t = tensor_view(is_f ? DT_FLOAT : DT_INT64, &sh, d);
	} else if (strcmp(an, "value_string") == 0 || strcmp(an, "value_strings") == 0) {
		return err_set(e, ERR_UNSUPPORTED, "string constants are not supported");
	} else {
		return err_set(e, ERR_UNSUPPORTED, "attribute '%s' is not supported", an);
	}
	if (graph_find_value(g, out) >= 0)
		return err_set(e, ERR_GRAPH, "output '%s' is already defined", out);
	int vi = graph_add_value(g, out, VAL_CONST, e);
	if (vi < 0)
		return e ? e->code : ERR_GRAPH;
	struct value *v = &g->values[vi];
	v->constant = t;
	v->dtype = t.dtype;
	v->shape = t.shape;
	return OK;
}

static int value_or_placeholder(struct graph *g, const char *name, struct err *e)
{
	int vi = graph_find_value(g, name);
	if (vi >= 0)
		return vi;
	/* nothing defines it: graph_finalize reports it by name */
	return graph_add_value(g, name, VAL_INTERMEDIATE, e);
}

static enum status node_from_proto(struct loader *L, const Onnx__NodeProto *np,
				   const char *name, struct err *e)
{
	struct graph *g = L->g;
	struct node n = { .name = name };
	n.op_type = graph_strdup(g, str_or_empty(np->op_type));
	n.domain = graph_strdup(g, str_or_empty(np->domain));
	if (!n.op_type || !n.domain)
		return nomem(e);
	n.op = OP_COUNT;
	if (np->n_input > INT_MAX || np->n_output > INT_MAX || np->n_attribute > INT_MAX)
		return err_set(e, ERR_LIMIT, "too many inputs, outputs or attributes");
	n.n_inputs = (int)np->n_input;
	n.n_outputs = (int)np->n_output;
	n.n_attrs = (int)np->n_attribute;
	int *ins = graph_alloc(g, np->n_input * sizeof *ins);
	int *outs = graph_alloc(g, np->n_output * sizeof *outs);
	struct attr *attrs = graph_alloc(g, np->n_attribute * sizeof *attrs);
	if (!ins || !outs || !attrs)
		return nomem(e);
	for (size_t i = 0; i < np->n_input; i++) {
		const char *in = str_or_empty(np->input[i]);
		ins[i] = in[0] ? value_or_placeholder(g, in, e) : -1;
		if (in[0] && ins[i] < 0)
			return e ? e->code : ERR_NOMEM;
	}
	for (size_t i = 0; i < np->n_output; i++) {
		const char *o = str_or_empty(np->output[i]);
		outs[i] = o[0] ? graph_find_value(g, o) : -1;
	}
	for (size_t i = 0; i < np->n_attribute; i++) {
		enum status st = attr_from_proto(L, np->attribute[i], &attrs[i], e);
		if (st)
			return st;
	}
	n.inputs = ins;
	n.outputs = outs;
	n.attrs = attrs;
	return graph_add_node(g, &n, e);
}

/* ---- graph ---------------------------------------------------------------- */

static enum status convert_model(struct loader *L, const Onnx__ModelProto *m, struct err *e)
{
	struct graph *g = L->g;
	enum status st = OK;
	const char **names = NULL;
	const Onnx__GraphProto *gp = m->graph;
	if (!gp)
		return err_set(e, ERR_FORMAT, "the model has no graph (not an ONNX model?)");

	g->ir_version = m->has_ir_version ? m->ir_version : 0;
	for (size_t i = 0; i < m->n_opset_import; i++) {
		const Onnx__OperatorSetIdProto *os = m->opset_import[i];
		if (is_default_domain(os->domain) && os->has_version)
			g->opset = os->version;
	}
	g->producer_name = graph_strdup(g, str_or_empty(m->producer_name));
	g->producer_version = graph_strdup(g, str_or_empty(m->producer_version));
	g->name = graph_strdup(g, str_or_empty(gp->name));
	if (!g->producer_name || !g->producer_version || !g->name)
		return nomem(e);

	if (gp->n_sparse_initializer)
		return err_set(e, ERR_UNSUPPORTED, "sparse initializers are not supported");

	/* initializers: constants */
	for (size_t i = 0; i < gp->n_initializer; i++) {
		const Onnx__TensorProto *tp = gp->initializer[i];
		const char *name = str_or_empty(tp->name);
		if (!name[0])
			return err_set(e, ERR_FORMAT, "initializer #%zu has no name", i);
		if (graph_find_value(g, name) >= 0)
			return err_set(e, ERR_GRAPH, "initializer '%s' is defined more than once",
				       name);
		struct tensor t;
		st = tensor_from_proto(L, tp, &t, e);
		if (st) {
			err_prefix(e, "initializer '%s'", name);
			return st;
		}
		int vi = graph_add_value(g, name, VAL_CONST, e);
		if (vi < 0)
			return e ? e->code : ERR_NOMEM;
		g->values[vi].constant = t;
		g->values[vi].dtype = t.dtype;
		g->values[vi].shape = t.shape;
	}

	/* graph inputs; those that are initializers stay constants */
	for (size_t i = 0; i < gp->n_input; i++) {
		const Onnx__ValueInfoProto *vp = gp->input[i];
		const char *name = str_or_empty(vp->name);
		if (!name[0])
			return err_set(e, ERR_FORMAT, "graph input #%zu has no name", i);
		int vi = graph_find_value(g, name);
		if (vi >= 0) {
			if (g->values[vi].kind == VAL_CONST)
				continue;
			return err_set(e, ERR_GRAPH, "graph input '%s' is listed more than once",
				       name);
		}
		enum dtype dt;
		struct shape sh;
		st = type_from_proto(vp->type, true, true, &dt, &sh, e);
		if (st) {
			err_prefix(e, "graph input '%s'", name);
			return st;
		}
		vi = graph_add_value(g, name, VAL_INPUT, e);
		if (vi < 0)
			return e ? e->code : ERR_NOMEM;
		g->values[vi].dtype = dt;
		g->values[vi].shape = sh;
		st = graph_add_input(g, vi, e);
		if (st)
			return st;
	}

	/* pass 1: node names and outputs (Constant nodes become constants) */
	names = calloc(gp->n_node + 1, sizeof *names);
	if (!names)
		return nomem(e);
	for (size_t ni = 0; ni < gp->n_node; ni++) {
		const Onnx__NodeProto *np = gp->node[ni];
		const char *op = str_or_empty(np->op_type);
		names[ni] = unique_node_name(L, np, ni);
		if (!names[ni]) {
			st = nomem(e);
			goto done;
		}
		if (!op[0]) {
			st = err_set(e, ERR_FORMAT, "node '%s': has no op_type", names[ni]);
			goto done;
		}
		if (strcmp(op, "Constant") == 0 && is_default_domain(np->domain)) {
			st = constant_node(L, np, e);
			if (st) {
				err_prefix(e, "node '%s' (%s)", names[ni], op);
				goto done;
			}
			continue;
		}
		for (size_t k = 0; k < np->n_output; k++) {
			const char *o = str_or_empty(np->output[k]);
			if (!o[0])
				continue;
			if (graph_find_value(g, o) >= 0) {
				st = err_set(e, ERR_GRAPH,
					     "node '%s' (%s): output '%s' is already defined",
					     names[ni], op, o);
				goto done;
			}
			if (graph_add_value(g, o, VAL_INTERMEDIATE, e) < 0) {
				st = e ? e->code : ERR_NOMEM;
				goto done;
			}
		}
	}
	/* pass 2: everything but Constant nodes */
	for (size_t ni = 0; ni < gp->n_node; ni++) {
		const Onnx__NodeProto *np = gp->node[ni];
		if (strcmp(str_or_empty(np->op_type), "Constant") == 0 &&
		    is_default_domain(np->domain))
			continue;
		st = node_from_proto(L, np, names[ni], e);
		if (st) {
			err_prefix(e, "node '%s' (%s)", names[ni], str_or_empty(np->op_type));
			goto done;
		}
	}

	/* graph outputs */
	for (size_t i = 0; i < gp->n_output; i++) {
		const Onnx__ValueInfoProto *vp = gp->output[i];
		const char *name = str_or_empty(vp->name);
		if (!name[0]) {
			st = err_set(e, ERR_FORMAT, "graph output #%zu has no name", i);
			goto done;
		}
		int vi = graph_find_value(g, name);
		if (vi < 0) {
			st = err_set(e, ERR_GRAPH, "graph output '%s' is not produced by any node",
				     name);
			goto done;
		}
		if (g->values[vi].is_output) {
			st = err_set(e, ERR_GRAPH, "graph output '%s' is listed more than once", name);
			goto done;
		}
		enum dtype dt;
		struct shape sh;
		st = type_from_proto(vp->type, true, false, &dt, &sh, e);
		if (st) {
			err_prefix(e, "graph output '%s'", name);
			goto done;
		}
		struct value *v = &g->values[vi];
		if (v->kind == VAL_INTERMEDIATE) {
			v->dtype = dt;
			v->shape = sh;
		}
		st = graph_add_output(g, vi, e);
		if (st)
			goto done;
	}

	/* value_info: declared types of intermediate values */
	for (size_t i = 0; i < gp->n_value_info; i++) {
		const Onnx__ValueInfoProto *vp = gp->value_info[i];
		int vi = graph_find_value(g, str_or_empty(vp->name));
		if (vi < 0 || g->values[vi].kind != VAL_INTERMEDIATE)
			continue;
		enum dtype dt;
		struct shape sh;
		st = type_from_proto(vp->type, false, false, &dt, &sh, e);
		if (st) {
			err_prefix(e, "value_info '%s'", vp->name);
			goto done;
		}
		struct value *v = &g->values[vi];
		if (dt != DT_UNDEFINED)
			v->dtype = dt;
		if (sh.rank >= 0)
			v->shape = sh;
	}
done:
	free(names);
	return st;
}

/* ---- entry points --------------------------------------------------------- */

/*
 * An empty output name omits an optional output.  The first output of every
 * operator qlens supports is required, and their prepare() rely on it; ops
 * whose first output is optional (RNN, LSTM) are unsupported and were refused
 * by graph_finalize, so this runs after it.
 */
static enum status check_first_outputs(const struct graph *g, struct err *e)
{
	for (int i = 0; i < g->n_nodes; i++) {
		const struct node *n = &g->nodes[i];
		if (n->n_outputs > 0 && n->outputs[0] < 0)
			return err_set(e, ERR_FORMAT, "node '%s' (%s): output 0 has no name; only "
				       "optional outputs may be omitted", n->name, n->op_type);
	}
	return OK;
}

enum status onnx_load_buffer(const void *buf, size_t len, const char *label,
			     const char *base_dir, struct graph **out, struct err *e)
{
	*out = NULL;
	if (!label)
		label = "<memory>";
	enum status st;
	struct graph *g = NULL;
	if (len == 0) {
		st = err_set(e, ERR_FORMAT, "the file is empty (not an ONNX model)");
		goto fail;
	}
	if (len > ONNX_MAX_FILE_BYTES) {
		st = err_set(e, ERR_LIMIT, "the model is %zu bytes; the limit is %zu MB", len,
			     ONNX_MAX_FILE_BYTES >> 20);
		goto fail;
	}
	st = onnx_wire_check(buf, len, ONNX_MAX_DEPTH, e);
	if (st) {
		err_prefix(e, "not a valid ONNX model");
		goto fail;
	}

	size_t limit = len * ONNX_ALLOC_BUDGET_FACTOR;
	if (limit < ONNX_ALLOC_BUDGET_MIN)
		limit = ONNX_ALLOC_BUDGET_MIN;
	struct budget b = { .limit = limit };
	ProtobufCAllocator alloc = { .alloc = budget_alloc, .free = budget_free,
				     .allocator_data = &b };
	Onnx__ModelProto *m = onnx__model_proto__unpack(&alloc, len, buf);
	if (!m) {
		if (b.exceeded)
			st = err_set(e, ERR_LIMIT, "the model needs more than %zu MB to decode",
				     limit >> 20);
		else
			st = err_set(e, ERR_FORMAT,
				     "not a valid ONNX model (protobuf decoding failed)");
		goto fail;
	}
	g = graph_new();
	if (!g) {
		onnx__model_proto__free_unpacked(m, &alloc);
		st = nomem(e);
		goto fail;
	}
	struct loader L = { .g = g, .base_dir = base_dir, .name_counter = 1 };
	st = convert_model(&L, m, e);
	free(L.node_names.slots);
	onnx__model_proto__free_unpacked(m, &alloc);
	if (st)
		goto fail;
	st = graph_finalize(g, e);
	if (!st)
		st = check_first_outputs(g, e);
	if (st)
		goto fail;
	*out = g;
	return OK;
fail:
	graph_free(g);
	err_prefix(e, "%s", label);
	return st;
}

/* Read a whole regular file; refuses FIFOs, devices and folders without
 * opening them in a way that could block. */
static enum status read_model(const char *path, void **buf_out, size_t *len_out, struct err *e)
{
	struct stat sb;
	if (stat(path, &sb) != 0)
		return err_set(e, ERR_IO, "%s", strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return err_set(e, ERR_INVALID, "not a regular file");
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, ERR_IO, "%s", strerror(errno));
	enum status st = OK;
	void *buf = NULL;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		st = err_set(e, ERR_INVALID, "not a regular file");
		goto done;
	}
	if (sb.st_size < 0 || (uint64_t)sb.st_size > ONNX_MAX_FILE_BYTES) {
		st = err_set(e, ERR_LIMIT, "the file is %jd bytes; the limit is %zu MB",
			     (intmax_t)sb.st_size, ONNX_MAX_FILE_BYTES >> 20);
		goto done;
	}
	size_t len = (size_t)sb.st_size;
	buf = malloc(len ? len : 1);
	if (!buf) {
		st = nomem(e);
		goto done;
	}
	st = read_full(fd, buf, len, 0, e);
	if (st)
		goto done;
	*buf_out = buf;
	*len_out = len;
	buf = NULL;
done:
	free(buf);
	close(fd);
	return st;
}

enum status onnx_load_file(const char *path, struct graph **out, struct err *e)
{
	*out = NULL;
	void *buf = NULL;
	size_t len = 0;
	enum status st = read_model(path, &buf, &len, e);
	if (st) {
		err_prefix(e, "%s", path);
		return st;
	}
	/* external data lives next to the model */
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
	if (!dir) {
		free(buf);
		st = nomem(e);
		err_prefix(e, "%s", path);
		return st;
	}
	st = onnx_load_buffer(buf, len, path, dir, out, e);
	free(dir);
	free(buf);
	return st;
}
