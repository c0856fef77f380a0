/*
 * npy.c - NumPy .npy reader and writer.
 *
 * Why: calibration inputs, reference outputs and exported tensors travel as
 * .npy files, the one array format every Python tool reads and writes.
 *
 * The format: the magic "\x93NUMPY", a major and a minor version byte, the
 * header length (2 bytes little-endian in 1.0, 4 bytes in 2.0 and 3.0; 3.0
 * only allows UTF-8 in the header), then a header that is a Python dict
 * literal such as  {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * padded with spaces and a newline so that the raw elements start on a 64-byte
 * boundary.
 *
 * Reading never evaluates anything: a small tokenizer accepts exactly the
 * three keys and the value forms numpy writes (either quote, any key order,
 * optional trailing commas, Python 2's 'L' integer suffix), and refuses the
 * rest with a message naming what it saw.  Every size is checked before any
 * allocation - the shape through shape_numel_checked() and the data length
 * against the file's (or buffer's) length - so a hostile header cannot make us
 * allocate more than the input holds.  The data then goes straight into the
 * tensor, byte-swapped in place when the file's byte order is not ours; bool
 * bytes are normalised to 0/1; Fortran-order arrays are read into scratch and
 * transposed with an odometer walk that keeps the source offset incrementally.
 *
 * Writing produces the same bytes as numpy 1.24's np.save for the same array
 * (including its spare header spaces that let a writer grow axis 0 in place),
 * and streams header and data through atomic_file, byte-swapping in bounded
 * chunks on big-endian hosts, so a large tensor is never copied whole.
 */
#include "npy.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"

static const unsigned char npy_magic[6] = { 0x93, 'N', 'U', 'M', 'P', 'Y' };
/* magic + version + 4-byte length: the longest preamble (2.0 and 3.0) */
#define PREAMBLE_MAX 12
/* numpy aligns the data to this and pads axis 0's digits to this width */
#define NPY_ALIGN 64
#define NPY_GROWTH_DIGITS 21
/* bytes swapped per step when writing on a big-endian host */
#define SWAP_CHUNK ((size_t)1 << 14)

struct npy_hdr {
	enum dtype dtype;
	size_t esize;
	bool swap;	/* file byte order differs from the host's */
	bool fortran;
	struct shape shape;
	size_t nbytes;	/* numel * esize, checked against TENSOR_MAX_BYTES */
};

static bool host_little_endian(void)
{
	const uint16_t one = 1;
	unsigned char b;
	memcpy(&b, &one, 1);
	return b == 1;
}

/* Reverse the bytes of each of n elements of esize bytes, src to dst (may alias). */
static void swap_bytes(void *dst, const void *src, size_t n, size_t esize)
{
	unsigned char *d = dst;
	const unsigned char *s = src;
	for (size_t i = 0; i < n; i++, d += esize, s += esize) {
		switch (esize) {
		case 2: {
			uint16_t v;
			memcpy(&v, s, 2);
			v = __builtin_bswap16(v);
			memcpy(d, &v, 2);
			break;
		}
		case 4: {
			uint32_t v;
			memcpy(&v, s, 4);
			v = __builtin_bswap32(v);
			memcpy(d, &v, 4);
			break;
		}
		case 8: {
			uint64_t v;
			memcpy(&v, s, 8);
			v = __builtin_bswap64(v);
			memcpy(d, &v, 8);
			break;
		}
		default:
			if (d != s)
				memcpy(d, s, esize);
			break;
		}
	}
}

/* ---- types ------------------------------------------------------------------- */

/* The .npy kinds we map onto our element types (kind letter + size). */
static const struct {
	char kind;
	size_t size;
	enum dtype dtype;
} npy_types[] = {
	{ 'f', 2, DT_FLOAT16 }, { 'f', 4, DT_FLOAT },  { 'f', 8, DT_DOUBLE },
	{ 'i', 1, DT_INT8 },    { 'i', 2, DT_INT16 },  { 'i', 4, DT_INT32 },
	{ 'i', 8, DT_INT64 },   { 'u', 1, DT_UINT8 },  { 'u', 2, DT_UINT16 },
	{ 'u', 4, DT_UINT32 },  { 'u', 8, DT_UINT64 }, { 'b', 1, DT_BOOL },
};
#define N_NPY_TYPES (sizeof npy_types / sizeof npy_types[0])

/* What numpy's other kind letters hold, for refusals that say why. */
static const char *kind_name(char k)
{
	switch (k) {
	case 'O': return "object arrays";
	case 'U': return "unicode string arrays";
	case 'S': case 'a': return "byte string arrays";
	case 'V': return "structured (void) arrays";
	case 'c': return "complex arrays";
	case 'M': return "datetime arrays";
	case 'm': return "timedelta arrays";
	default: return NULL;
	}
}

static enum status descr_parse(const char *s, struct npy_hdr *h, struct err *e)
{
	char order = '=';
	const char *p = s;
	if (*p == '<' || *p == '>' || *p == '=' || *p == '|')
		order = *p++;
	char kind = *p ? *p++ : '\0';
	size_t size = 0;
	const char *digits = p;
	while (*p >= '0' && *p <= '9' && size < 1000)
		size = size * 10 + (size_t)(*p++ - '0');
	if (kind_name(kind))
		return err_set(e, ERR_UNSUPPORTED, "'descr' is '%s': %s are not supported", s,
			       kind_name(kind));
	if (!kind || p == digits || *p)
		return err_set(e, ERR_FORMAT, "'descr' '%s' is not a type string", s);
	h->dtype = DT_UNDEFINED;
	for (size_t i = 0; i < N_NPY_TYPES; i++)
		if (npy_types[i].kind == kind && npy_types[i].size == size)
			h->dtype = npy_types[i].dtype;
	if (h->dtype == DT_UNDEFINED) {
		if (kind == 'f' || kind == 'i' || kind == 'u' || kind == 'b')
			return err_set(e, ERR_UNSUPPORTED,
				       "'descr' is '%s': %zu-byte '%c' elements are not supported",
				       s, size, kind);
		return err_set(e, ERR_FORMAT, "'descr' '%s' is not a type string", s);
	}
	h->esize = size;
	if (size > 1 && order == '|')
		return err_set(e, ERR_FORMAT, "'descr' '%s': byte order '|' is only valid for "
			       "1-byte elements", s);
	bool file_little = order == '<' || (order == '=' && host_little_endian());
	h->swap = size > 1 && order != '|' && file_little != host_little_endian();
	return OK;
}

static const char *descr_of(enum dtype t)
{
	for (size_t i = 0; i < N_NPY_TYPES; i++) {
		if (npy_types[i].dtype != t)
			continue;
		static const char *const names[] = {
			"<f2", "<f4", "<f8", "|i1", "<i2", "<i4", "<i8",
			"|u1", "<u2", "<u4", "<u8", "|b1",
		};
		_Static_assert(sizeof names / sizeof names[0] == N_NPY_TYPES,
			       "descr names out of step with npy_types");
		return names[i];
	}
	return NULL;
}

/* ---- header dictionary --------------------------------------------------------- */

struct cursor {
	const char *p, *end;
};

static void skip_ws(struct cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static bool accept(struct cursor *c, char ch)
{
	skip_ws(c);
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return true;
	}
	return false;
}

/* A short description of what the cursor is looking at, for messages. */
static const char *seen(const struct cursor *c, char *buf, size_t size)
{
	if (c->p >= c->end)
		return "the end of the header";
	size_t n = 0;
	const char *q = c->p;
	buf[n++] = '\'';
	while (q < c->end && n + 5 < size && n < 13) {
		unsigned char ch = (unsigned char)*q++;
		buf[n++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	if (q < c->end)
		for (int i = 0; i < 3; i++)
			buf[n++] = '.';
	buf[n++] = '\'';
	buf[n] = '\0';
	return buf;
}

static enum status expected(const struct cursor *c, const char *what, struct err *e)
{
	char buf[32];
	return err_set(e, ERR_FORMAT, "header: expected %s, found %s", what,
		       seen(c, buf, sizeof buf));
}

/* A quoted Python string without escapes, into out (NUL-terminated). */
static enum status read_string(struct cursor *c, char *out, size_t size, struct err *e)
{
	skip_ws(c);
	if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
		return expected(c, "a quoted string", e);
	char q = *c->p++;
	size_t n = 0;
	while (c->p < c->end && *c->p != q) {
		char ch = *c->p++;
		if (ch == '\\' || ch == '\n' || ch == '\0')
			return err_set(e, ERR_FORMAT, "header: unsupported character in a string");
		if (n + 1 >= size)
			return err_set(e, ERR_FORMAT, "header: string longer than %zu bytes",
				       size - 1);
		out[n++] = ch;
	}
	if (c->p >= c->end)
		return err_set(e, ERR_FORMAT, "header: unterminated string");
	c->p++;
	out[n] = '\0';
	return OK;
}

static bool accept_word(struct cursor *c, const char *w)
{
	skip_ws(c);
	size_t n = strlen(w);
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0)
		return false;
	/* "Truex" is not True */
	if ((size_t)(c->end - c->p) > n) {
		char next = c->p[n];
		if ((next >= 'a' && next <= 'z') || (next >= 'A' && next <= 'Z') ||
		    (next >= '0' && next <= '9') || next == '_')
			return false;
	}
	c->p += n;
	return true;
}

/* A dimension: decimal digits with an optional Python 2 'L' suffix. */
static enum status read_dim(struct cursor *c, int index, int64_t *out, struct err *e)
{
	skip_ws(c);
	bool neg = c->p < c->end && *c->p == '-';
	if (neg)
		c->p++;
	if (c->p >= c->end || *c->p < '0' || *c->p > '9')
		return expected(c, "an integer in 'shape'", e);
	int64_t v = 0;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		int d = *c->p++ - '0';
		if (v > (INT64_MAX - d) / 10)
			return err_set(e, ERR_LIMIT, "header: dimension %d does not fit in 64 bits",
				       index);
		v = v * 10 + d;
	}
	if (c->p < c->end && (*c->p == 'L' || *c->p == 'l'))
		c->p++;
	if (neg && v)
		return err_set(e, ERR_SHAPE, "header: dimension %d is negative (-%" PRId64 ")",
			       index, v);
	*out = v;
	return OK;
}

static enum status read_shape(struct cursor *c, struct shape *s, struct err *e)
{
	if (!accept(c, '('))
		return expected(c, "a tuple for 'shape'", e);
	s->rank = 0;
	bool comma = false; /* "(3)" is the integer 3 in Python, not a tuple */
	while (!accept(c, ')')) {
		if (s->rank > 0 && !comma)
			return expected(c, "',' or ')' in 'shape'", e);
		if (s->rank == TENSOR_MAX_RANK)
			return err_set(e, ERR_LIMIT, "header: 'shape' has more than %d dimensions",
				       TENSOR_MAX_RANK);
		enum status st = read_dim(c, s->rank, &s->dim[s->rank], e);
		if (st)
			return st;
		s->rank++;
		comma = accept(c, ',');
	}
	if (s->rank == 1 && !comma)
		return err_set(e, ERR_FORMAT, "header: 'shape' is not a tuple (a 1-element tuple "
			       "needs a trailing comma)");
	return OK;
}

enum { KEY_DESCR = 1, KEY_FORTRAN = 2, KEY_SHAPE = 4 };

static enum status header_parse(const char *text, size_t len, struct npy_hdr *h, struct err *e)
{
	struct cursor c = { text, text + len };
	char key[32], descr[64];
	unsigned have = 0;
	enum status st;
	*h = (struct npy_hdr){ 0 };
	if (!accept(&c, '{'))
		return expected(&c, "'{'", e);
	while (!accept(&c, '}')) {
		if (have && !accept(&c, ','))
			return expected(&c, "',' or '}'", e);
		if (accept(&c, '}'))
			break; /* trailing comma */
		if ((st = read_string(&c, key, sizeof key, e)))
			return st;
		if (!accept(&c, ':'))
			return expected(&c, "':'", e);
		unsigned k = !strcmp(key, "descr")	   ? KEY_DESCR
			     : !strcmp(key, "fortran_order") ? KEY_FORTRAN
			     : !strcmp(key, "shape")	   ? KEY_SHAPE
							   : 0;
		if (!k)
			return err_set(e, ERR_FORMAT, "header: unknown key '%s'", key);
		if (have & k)
			return err_set(e, ERR_FORMAT, "header: key '%s' appears twice", key);
		have |= k;
		if (k == KEY_DESCR) {
			skip_ws(&c);
			if (c.p < c.end && *c.p == '[')
				return err_set(e, ERR_UNSUPPORTED, "header: 'descr' is a list: "
					       "structured arrays are not supported");
			if ((st = read_string(&c, descr, sizeof descr, e)))
				return st;
			if ((st = descr_parse(descr, h, e))) {
				err_prefix(e, "header");
				return st;
			}
		} else if (k == KEY_FORTRAN) {
			if (accept_word(&c, "True"))
				h->fortran = true;
			else if (accept_word(&c, "False"))
				h->fortran = false;
			else
				return expected(&c, "True or False for 'fortran_order'", e);
		} else if ((st = read_shape(&c, &h->shape, e))) {
			return st;
		}
	}
	skip_ws(&c);
	if (c.p != c.end)
		return err_set(e, ERR_FORMAT, "header: unexpected bytes after '}'");
	if (have != (KEY_DESCR | KEY_FORTRAN | KEY_SHAPE))
		return err_set(e, ERR_FORMAT, "header: missing key '%s'",
			       !(have & KEY_DESCR) ? "descr"
			       : !(have & KEY_FORTRAN) ? "fortran_order" : "shape");
	int64_t numel;
	if ((st = shape_numel_checked(&h->shape, h->esize, &numel, e))) {
		err_prefix(e, "header");
		return st;
	}
	h->nbytes = (size_t)numel * h->esize;
	return OK;
}

/* Check magic and version; give the header's offset and length.  avail may be
 * shorter than PREAMBLE_MAX (a tiny file): then only what is there is read. */
static enum status preamble_parse(const unsigned char *p, size_t avail, size_t *hdr_off,
				  size_t *hdr_len, struct err *e)
{
	if (avail < sizeof npy_magic || memcmp(p, npy_magic, sizeof npy_magic) != 0)
		return err_set(e, ERR_FORMAT, "not a .npy file (no \\x93NUMPY magic)");
	if (avail < 8)
		return err_set(e, ERR_FORMAT, "truncated before the format version");
	unsigned major = p[6], minor = p[7];
	size_t lenbytes;
	if (major == 1 && minor == 0)
		lenbytes = 2;
	else if ((major == 2 || major == 3) && minor == 0)
		lenbytes = 4;
	else
		return err_set(e, ERR_UNSUPPORTED, "format version %u.%u is not supported "
			       "(1.0, 2.0 and 3.0 are)", major, minor);
	if (avail < 8 + lenbytes)
		return err_set(e, ERR_FORMAT, "truncated before the header length");
	uint32_t n = (uint32_t)p[8] | (uint32_t)p[9] << 8;
	if (lenbytes == 4)
		n |= (uint32_t)p[10] << 16 | (uint32_t)p[11] << 24;
	if (n > NPY_MAX_HEADER)
		return err_set(e, ERR_LIMIT, "header is %" PRIu32 " bytes, over the %d-byte limit",
			       n, NPY_MAX_HEADER);
	*hdr_off = 8 + lenbytes;
	*hdr_len = n;
	return OK;
}

static enum status check_data_len(const struct npy_hdr *h, uint64_t have, struct err *e)
{
	if (have == h->nbytes)
		return OK;
	char sb[160];
	shape_str(&h->shape, sb, sizeof sb);
	if (have < h->nbytes)
		return err_set(e, ERR_FORMAT, "data is truncated: %s %s needs %zu bytes, the "
			       "file holds %" PRIu64, dtype_name(h->dtype), sb, h->nbytes, have);
	return err_set(e, ERR_FORMAT, "%" PRIu64 " bytes of unexpected data after the %zu bytes "
		       "of %s %s", have - h->nbytes, h->nbytes, dtype_name(h->dtype), sb);
}

/* ---- data --------------------------------------------------------------------------- */

/* Copy Fortran-order (first index fastest) src into C-order dst. */
static void fortran_to_c(void *dst, const void *src, const struct npy_hdr *h)
{
	const struct shape *s = &h->shape;
	int64_t numel = shape_numel(s);
	size_t es = h->esize;
	if (numel <= 0)
		return;
	if (s->rank < 2) {
		memcpy(dst, src, h->nbytes);
		return;
	}
	int64_t fstride[TENSOR_MAX_RANK], idx[TENSOR_MAX_RANK] = { 0 };
	fstride[0] = 1;
	for (int k = 1; k < s->rank; k++)
		fstride[k] = fstride[k - 1] * s->dim[k - 1];
	unsigned char *d = dst;
	const unsigned char *base = src;
	int64_t off = 0; /* source element offset of idx */
	int last = s->rank - 1;
	for (int64_t i = 0; i < numel; i++) {
		memcpy(d + (size_t)i * es, base + (size_t)off * es, es);
		/* advance the C-order odometer, keeping off in step */
		for (int k = last; k >= 0; k--) {
			off += fstride[k];
			if (++idx[k] < s->dim[k])
				break;
			off -= fstride[k] * s->dim[k];
			idx[k] = 0;
		}
	}
}

/* In place, after the bytes are in C order: native byte order, bools 0/1. */
static void fix_up(const struct npy_hdr *h, struct tensor *t)
{
	size_t n = h->esize ? h->nbytes / h->esize : 0;
	if (h->swap)
		swap_bytes(t->data, t->data, n, h->esize);
	if (h->dtype == DT_BOOL) {
		unsigned char *b = t->data;
		for (size_t i = 0; i < n; i++)
			b[i] = b[i] != 0;
	}
}

/* ---- reading ------------------------------------------------------------------------ */

enum status npy_read_buffer(const void *buf, size_t len, const char *label, struct tensor *out,
			    struct err *e)
{
	const unsigned char *p = buf;
	size_t off = 0, hlen = 0;
	struct npy_hdr h;
	enum status st = preamble_parse(p, len, &off, &hlen, e);
	if (!st && len - off < hlen)
		st = err_set(e, ERR_FORMAT, "truncated inside the %zu-byte header", hlen);
	if (!st)
		st = header_parse((const char *)p + off, hlen, &h, e);
	if (!st)
		st = check_data_len(&h, len - off - hlen, e);
	if (!st)
		st = tensor_alloc(out, h.dtype, &h.shape, e);
	if (st) {
		err_prefix(e, "%s", label ? label : "(buffer)");
		return st;
	}
	const unsigned char *data = p + off + hlen;
	if (h.fortran)
		fortran_to_c(out->data, data, &h);
	else if (h.nbytes)
		memcpy(out->data, data, h.nbytes);
	fix_up(&h, out);
	return OK;
}

/* pread exactly n bytes at off; false with errno set (0 at end of file). */
static bool pread_full(int fd, void *buf, size_t n, uint64_t off)
{
	unsigned char *p = buf;
	while (n) {
		size_t want = n < ((size_t)1 << 30) ? n : ((size_t)1 << 30);
		ssize_t r = pread(fd, p, want, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = 0;
			return false;
		}
		p += r;
		off += (uint64_t)r;
		n -= (size_t)r;
	}
	return true;
}

static enum status read_error(struct err *e, const char *what)
{
	if (errno == 0)
		return err_set(e, ERR_FORMAT, "file shrank while %s", what);
	char eb[128];
	if (strerror_r(errno, eb, sizeof eb) != 0)
		snprintf(eb, sizeof eb, "error %d", errno);
	return err_set(e, ERR_IO, "%s: %s", what, eb);
}

enum status npy_read(const char *path, struct tensor *out, struct err *e)
{
	/* O_NONBLOCK: a FIFO named by mistake is refused below instead of hanging */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		char eb[128];
		if (strerror_r(errno, eb, sizeof eb) != 0)
			snprintf(eb, sizeof eb, "error %d", errno);
		err_set(e, ERR_IO, "%s: %s", path, eb);
		return ERR_IO;
	}
	enum status st = OK;
	void *scratch = NULL;
	struct tensor t = { 0 };
	struct stat sb;
	if (fstat(fd, &sb) != 0) {
		st = read_error(e, "reading file status");
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		st = err_set(e, ERR_IO, "not a regular file");
		goto fail;
	}
	uint64_t fsize = (uint64_t)sb.st_size;

	unsigned char pre[PREAMBLE_MAX];
	size_t got = fsize < PREAMBLE_MAX ? (size_t)fsize : PREAMBLE_MAX;
	if (!pread_full(fd, pre, got, 0)) {
		st = read_error(e, "reading the preamble");
		goto fail;
	}
	size_t off = 0, hlen = 0;
	if ((st = preamble_parse(pre, got, &off, &hlen, e)))
		goto fail;
	if (fsize - off < hlen) {
		st = err_set(e, ERR_FORMAT, "truncated inside the %zu-byte header", hlen);
		goto fail;
	}
	char text[NPY_MAX_HEADER];
	if (!pread_full(fd, text, hlen, off)) {
		st = read_error(e, "reading the header");
		goto fail;
	}
	struct npy_hdr h;
	if ((st = header_parse(text, hlen, &h, e)))
		goto fail;
	uint64_t data_off = off + hlen;
	if ((st = check_data_len(&h, fsize - data_off, e)))
		goto fail;
	if ((st = tensor_alloc(&t, h.dtype, &h.shape, e)))
		goto fail;
	void *dst = t.data;
	if (h.fortran && h.shape.rank > 1 && h.nbytes) {
		dst = scratch = malloc(h.nbytes);
		if (!scratch) {
			st = err_set(e, ERR_NOMEM, "out of memory for %zu bytes", h.nbytes);
			goto fail;
		}
	}
	if (!pread_full(fd, dst, h.nbytes, data_off)) {
		st = read_error(e, "reading the data");
		goto fail;
	}
	if (scratch)
		fortran_to_c(t.data, scratch, &h);
	fix_up(&h, &t);
	free(scratch);
	close(fd);
	*out = t;
	return OK;
fail:
	err_prefix(e, "%s", path);
	free(scratch);
	tensor_fini(&t);
	close(fd);
	return st;
}

/* ---- writing ------------------------------------------------------------------------ */

/* Write preamble + header for t into out (cap bytes); *len is its length,
 * a multiple of NPY_ALIGN. */
static enum status header_build(const struct tensor *t, unsigned char *out, size_t cap,
				size_t *len, struct err *e)
{
	const char *descr = descr_of(t->dtype);
	if (!descr)
		return err_set(e, ERR_UNSUPPORTED, "%s has no .npy element type",
			       dtype_name(t->dtype));
	int64_t numel;
	enum status st = shape_numel_checked(&t->shape, dtype_size(t->dtype), &numel, e);
	if (st)
		return st;
	size_t nbytes = (size_t)numel * dtype_size(t->dtype);
	if (t->nbytes != nbytes || (nbytes && !t->data))
		return err_set(e, ERR_INVALID, "tensor holds %zu bytes, its shape needs %zu",
			       t->data ? t->nbytes : 0, nbytes);

	char dict[512];
	int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
			 descr);
	for (int i = 0; i < t->shape.rank; i++)
		n += snprintf(dict + n, sizeof dict - (size_t)n, "%s%" PRId64, i ? ", " : "",
			      t->shape.dim[i]);
	n += snprintf(dict + n, sizeof dict - (size_t)n, "%s), }", t->shape.rank == 1 ? "," : "");
	/* spare room for axis 0 to grow to NPY_GROWTH_DIGITS digits, as numpy does */
	size_t spare = 0;
	if (t->shape.rank > 0) {
		char d0[24];
		int w = snprintf(d0, sizeof d0, "%" PRId64, t->shape.dim[0]);
		spare = w < NPY_GROWTH_DIGITS ? (size_t)(NPY_GROWTH_DIGITS - w) : 0;
	}
	size_t body = (size_t)n + spare + 1; /* + '\n' */
	size_t pre = 10;
	if (body + (NPY_ALIGN - 1) > 0xffff)
		pre = 12; /* version 2.0: 4-byte length */
	size_t total = (pre + body + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
	if (total > cap)
		return err_set(e, ERR_LIMIT, "header of %zu bytes is too long", total);
	size_t hlen = total - pre;
	memcpy(out, npy_magic, sizeof npy_magic);
	out[6] = pre == 10 ? 1 : 2;
	out[7] = 0;
	for (size_t i = 0; i < pre - 8; i++)
		out[8 + i] = (unsigned char)(hlen >> (8 * i));
	memcpy(out + pre, dict, (size_t)n);
	memset(out + pre + n, ' ', total - pre - (size_t)n - 1);
	out[total - 1] = '\n';
	*len = total;
	return OK;
}

enum status npy_encode(const struct tensor *t, void **buf, size_t *len, struct err *e)
{
	*buf = NULL;
	*len = 0;
	unsigned char head[1024];
	size_t hl;
	enum status st = header_build(t, head, sizeof head, &hl, e);
	if (st)
		return st;
	unsigned char *p = malloc(hl + t->nbytes);
	if (!p)
		return err_set(e, ERR_NOMEM, "out of memory for %zu bytes", hl + t->nbytes);
	memcpy(p, head, hl);
	size_t es = dtype_size(t->dtype);
	if (!host_little_endian() && es > 1)
		swap_bytes(p + hl, t->data, t->nbytes / es, es);
	else if (t->nbytes)
		memcpy(p + hl, t->data, t->nbytes);
	*buf = p;
	*len = hl + t->nbytes;
	return OK;
}

enum status npy_write(const char *path, const struct tensor *t, struct err *e)
{
	unsigned char head[1024];
	size_t hl;
	enum status st = header_build(t, head, sizeof head, &hl, e);
	if (st) {
		err_prefix(e, "%s", path);
		return st;
	}
	struct atomic_file *f;
	if ((st = atomic_file_open(path, &f, e))) /* messages carry the path already */
		return st;
	st = atomic_file_write(f, head, hl, e);
	size_t es = dtype_size(t->dtype);
	if (!st && (host_little_endian() || es == 1)) {
		st = atomic_file_write(f, t->data, t->nbytes, e);
	} else if (!st) {
		unsigned char chunk[SWAP_CHUNK];
		const unsigned char *src = t->data;
		for (size_t done = 0; !st && done < t->nbytes; done += sizeof chunk) {
			size_t left = t->nbytes - done;
			size_t n = left < sizeof chunk ? left : sizeof chunk;
			swap_bytes(chunk, src + done, n / es, es);
			st = atomic_file_write(f, chunk, n, e);
		}
	}
	if (st) {
		atomic_file_abort(f);
		return st;
	}
	return atomic_file_commit(f, e);
}
