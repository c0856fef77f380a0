/*
 * npy.mjs - NumPy .npy arrays in plain JavaScript (no dependencies).
 *
 * The ONNX Runtime reference scripts (run.mjs, npydiff.mjs) exchange tensors
 * with qlens and with numpy as .npy files, so they need a reader and a writer
 * that agree with src/npy.c and with numpy itself.  An array here is a plain
 * object { dtype, shape, data }: dtype is one of the names in DTYPES (the
 * names ONNX Runtime's JS API uses for tensor types), shape an array of
 * non-negative integers, data a typed array in C order with native (little)
 * endianness.  float16 has no JS typed array in Node 20, so it is kept as raw
 * IEEE half bits in a Uint16Array - exactly what onnxruntime-node expects -
 * and halfToFloat()/floatToHalf() convert.
 *
 * Reading accepts format versions 1.0, 2.0 and 3.0, little-, big- and
 * native-endian descriptors, and Fortran order (transposed to C order on
 * read).  The header is a Python dict literal; it is parsed with a small
 * tokenizer rather than eval or regexes, so anything unexpected gives an
 * error naming the file and the problem.  Data whose size does not match the
 * shape is refused.  The data is always copied into a fresh buffer, so typed
 * array alignment never depends on the header length.
 *
 * Writing produces version 1.0 (2.0 when the header does not fit 1.0), C
 * order, little-endian, with the header padded to a multiple of 64 bytes as
 * numpy does, and replaces the target atomically (temp file + rename).
 */
import fs from 'node:fs';
import path from 'node:path';

/* name -> { descr char+size, typed array, element bytes } */
export const DTYPES = {
	float32: { kind: 'f', size: 4, Array: Float32Array },
	float64: { kind: 'f', size: 8, Array: Float64Array },
	float16: { kind: 'f', size: 2, Array: Uint16Array },
	int64: { kind: 'i', size: 8, Array: BigInt64Array },
	int32: { kind: 'i', size: 4, Array: Int32Array },
	int16: { kind: 'i', size: 2, Array: Int16Array },
	int8: { kind: 'i', size: 1, Array: Int8Array },
	uint64: { kind: 'u', size: 8, Array: BigUint64Array },
	uint32: { kind: 'u', size: 4, Array: Uint32Array },
	uint16: { kind: 'u', size: 2, Array: Uint16Array },
	uint8: { kind: 'u', size: 1, Array: Uint8Array },
	bool: { kind: 'b', size: 1, Array: Uint8Array },
};

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); /* \x93NUMPY */
export const NPY_MAX_HEADER = 1 << 20;

export class NpyError extends Error {}

function dtypeFromDescr(descr, label) {
	if (typeof descr !== 'string' || descr.length < 2)
		throw new NpyError(`${label}: unsupported descr ${JSON.stringify(descr)}`);
	let order = descr[0];
	let rest = descr.slice(1);
	if (!'<>|='.includes(order)) {
		order = '=';
		rest = descr;
	}
	const kind = rest[0];
	const size = Number(rest.slice(1));
	for (const [name, t] of Object.entries(DTYPES)) {
		if (t.kind === kind && t.size === size)
			return { name, bigEndian: order === '>' && size > 1 };
	}
	throw new NpyError(`${label}: unsupported element type '${descr}' ` +
		`(supported: ${Object.keys(DTYPES).join(', ')})`);
}

export function descrOf(dtype) {
	const t = DTYPES[dtype];
	if (!t)
		throw new NpyError(`unsupported dtype '${dtype}'`);
	return (t.size === 1 ? '|' : '<') + t.kind + t.size;
}

/* --- header: a Python dict literal ------------------------------------- */

function tokenize(s, label) {
	const toks = [];
	let i = 0;
	while (i < s.length) {
		const c = s[i];
		if (/\s/.test(c)) {
			i++;
		} else if ('{}():,'.includes(c)) {
			toks.push({ t: c });
			i++;
		} else if (c === "'" || c === '"') {
			const j = s.indexOf(c, i + 1);
			if (j < 0)
				throw new NpyError(`${label}: header: unterminated string`);
			toks.push({ t: 'str', v: s.slice(i + 1, j) });
			i = j + 1;
		} else {
			const m = /^[A-Za-z0-9_+-]+/.exec(s.slice(i));
			if (!m)
				throw new NpyError(`${label}: header: unexpected character ${JSON.stringify(c)}`);
			toks.push({ t: 'word', v: m[0] });
			i += m[0].length;
		}
	}
	return toks;
}

function parseHeader(text, label) {
	const toks = tokenize(text, label);
	let p = 0;
	const peek = () => toks[p] || { t: 'end' };
	const expect = (t) => {
		const k = toks[p++];
		if (!k || k.t !== t)
			throw new NpyError(`${label}: header: expected '${t}'`);
		return k;
	};
	const value = () => {
		const k = toks[p++];
		if (!k)
			throw new NpyError(`${label}: header: truncated`);
		if (k.t === 'str')
			return k.v;
		if (k.t === 'word') {
			if (k.v === 'True')
				return true;
			if (k.v === 'False')
				return false;
			const m = /^(\d+)L?$/.exec(k.v);
			if (!m)
				throw new NpyError(`${label}: header: unexpected '${k.v}'`);
			return Number(m[1]);
		}
		if (k.t === '(') {
			const items = [];
			while (peek().t !== ')') {
				items.push(value());
				if (peek().t === ',')
					p++;
				else if (peek().t !== ')')
					throw new NpyError(`${label}: header: expected ',' or ')' in tuple`);
			}
			p++;
			return items;
		}
		throw new NpyError(`${label}: header: unexpected '${k.t}'`);
	};
	expect('{');
	const dict = {};
	while (peek().t !== '}') {
		const key = expect('str').v;
		expect(':');
		dict[key] = value();
		if (peek().t === ',')
			p++;
		else if (peek().t !== '}')
			throw new NpyError(`${label}: header: expected ',' or '}'`);
	}
	p++;
	if (p !== toks.length)
		throw new NpyError(`${label}: header: trailing text after the dict`);
	return dict;
}

/* --- element helpers ---------------------------------------------------- */

export function numel(shape) {
	let n = 1;
	for (const d of shape)
		n *= d;
	return n;
}

function swapBytes(u8, size) {
	for (let i = 0; i < u8.length; i += size) {
		for (let a = i, b = i + size - 1; a < b; a++, b--) {
			const t = u8[a];
			u8[a] = u8[b];
			u8[b] = t;
		}
	}
}

/* Fortran-ordered data -> C order (a general N-d transpose). */
function fortranToC(src, shape, ArrayT) {
	const n = src.length;
	const rank = shape.length;
	const dst = new ArrayT(n);
	if (rank <= 1 || n === 0) {
		dst.set(src);
		return dst;
	}
	const fstride = new Array(rank);
	fstride[0] = 1;
	for (let k = 1; k < rank; k++)
		fstride[k] = fstride[k - 1] * shape[k - 1];
	const idx = new Array(rank).fill(0);
	let off = 0; /* Fortran offset of idx */
	for (let i = 0; i < n; i++) {
		dst[i] = src[off];
		/* advance the C-order counter, last axis fastest */
		for (let k = rank - 1; k >= 0; k--) {
			idx[k]++;
			off += fstride[k];
			if (idx[k] < shape[k])
				break;
			off -= fstride[k] * shape[k];
			idx[k] = 0;
		}
	}
	return dst;
}

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

export function halfToFloat(h) {
	const s = h & 0x8000 ? -1 : 1;
	const e = (h >> 10) & 0x1f;
	const m = h & 0x3ff;
	if (e === 0)
		return s * m * 2 ** -24;
	if (e === 31)
		return m ? NaN : s * Infinity;
	return s * (1 + m / 1024) * 2 ** (e - 15);
}

/* float32 value -> half bits, round to nearest even. */
export function floatToHalf(f) {
	f32buf[0] = f;
	const x = u32buf[0];
	const sign = (x >>> 16) & 0x8000;
	const exp = (x >>> 23) & 0xff;
	let man = x & 0x7fffff;
	if (exp === 0xff)
		return sign | 0x7c00 | (man ? 0x200 : 0);
	let e = exp - 127 + 15;
	if (e >= 31)
		return sign | 0x7c00;
	if (e <= 0) {
		if (e < -10)
			return sign;
		man |= 0x800000;
		const shift = 14 - e;
		let h = man >>> shift;
		const rem = man & ((1 << shift) - 1);
		const half = 1 << (shift - 1);
		if (rem > half || (rem === half && (h & 1)))
			h++;
		return sign | h;
	}
	let h = (e << 10) | (man >>> 13);
	const rem = man & 0x1fff;
	if (rem > 0x1000 || (rem === 0x1000 && (h & 1)))
		h++; /* may carry into the exponent, which is still correct */
	return sign | h;
}

/* Element i of an array as a JS number (int64 may lose precision past 2^53). */
export function elementAsNumber(arr, i) {
	const v = arr.data[i];
	if (arr.dtype === 'float16')
		return halfToFloat(v);
	return typeof v === 'bigint' ? Number(v) : v;
}

/* Copy of arr's values as a Float64Array (for comparisons). */
export function toFloat64(arr) {
	const n = arr.data.length;
	const out = new Float64Array(n);
	for (let i = 0; i < n; i++)
		out[i] = elementAsNumber(arr, i);
	return out;
}

/*
 * Convert arr to another dtype.  Floats to integers round half to even and
 * saturate; anything to bool is value != 0.  Returns arr itself when the
 * dtype already matches.
 */
export function convert(arr, dtype) {
	if (arr.dtype === dtype)
		return arr;
	const t = DTYPES[dtype];
	if (!t)
		throw new NpyError(`cannot convert to unsupported dtype '${dtype}'`);
	const n = arr.data.length;
	const out = new t.Array(n);
	const intRange = {
		int64: [-(2 ** 63), 2 ** 63 - 1024], int32: [-(2 ** 31), 2 ** 31 - 1],
		int16: [-32768, 32767], int8: [-128, 127], uint64: [0, 2 ** 64 - 2048],
		uint32: [0, 2 ** 32 - 1], uint16: [0, 65535], uint8: [0, 255],
	}[dtype];
	for (let i = 0; i < n; i++) {
		let v = elementAsNumber(arr, i);
		if (dtype === 'bool') {
			out[i] = v !== 0 ? 1 : 0;
		} else if (dtype === 'float16') {
			out[i] = floatToHalf(v);
		} else if (t.kind === 'f') {
			out[i] = v;
		} else {
			if (Number.isNaN(v))
				v = 0;
			const r = Math.round(v);
			if (Math.abs(v - Math.trunc(v)) === 0.5)
				v = 2 * Math.round(v / 2);
			else
				v = r;
			v = Math.min(Math.max(v, intRange[0]), intRange[1]);
			out[i] = t.Array === BigInt64Array || t.Array === BigUint64Array ? BigInt(v) : v;
		}
	}
	return { dtype, shape: arr.shape.slice(), data: out };
}

/* --- reading ------------------------------------------------------------ */

/* Decode a .npy image held in a Buffer/Uint8Array; label names it in errors. */
export function decodeNpy(buf, label = '<buffer>') {
	const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
	if (b.length < 10 || !b.subarray(0, 6).equals(MAGIC))
		throw new NpyError(`${label}: not a .npy file (bad magic)`);
	const major = b[6];
	const minor = b[7];
	let hlen;
	let hstart;
	if (major === 1) {
		hlen = b.readUInt16LE(8);
		hstart = 10;
	} else if (major === 2 || major === 3) {
		if (b.length < 12)
			throw new NpyError(`${label}: truncated header`);
		hlen = b.readUInt32LE(8);
		hstart = 12;
	} else {
		throw new NpyError(`${label}: unsupported .npy version ${major}.${minor}`);
	}
	if (hlen > NPY_MAX_HEADER)
		throw new NpyError(`${label}: header of ${hlen} bytes is too large`);
	if (hstart + hlen > b.length)
		throw new NpyError(`${label}: truncated header`);
	const text = b.subarray(hstart, hstart + hlen).toString(major === 3 ? 'utf8' : 'latin1');
	const h = parseHeader(text, label);
	for (const k of ['descr', 'fortran_order', 'shape'])
		if (!(k in h))
			throw new NpyError(`${label}: header has no '${k}'`);
	if (typeof h.descr !== 'string')
		throw new NpyError(`${label}: structured arrays are not supported`);
	if (typeof h.fortran_order !== 'boolean')
		throw new NpyError(`${label}: fortran_order is not True/False`);
	if (!Array.isArray(h.shape) || !h.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
		throw new NpyError(`${label}: shape must be a tuple of non-negative integers`);
	const { name, bigEndian } = dtypeFromDescr(h.descr, label);
	const t = DTYPES[name];
	const shape = h.shape;
	const n = numel(shape);
	const nbytes = n * t.size;
	const dstart = hstart + hlen;
	const have = b.length - dstart;
	if (!Number.isSafeInteger(nbytes) || have !== nbytes)
		throw new NpyError(`${label}: data is ${have} bytes but shape (${shape.join(', ')}) ` +
			`of ${name} needs ${nbytes}`);
	const ab = new ArrayBuffer(nbytes);
	const u8 = new Uint8Array(ab);
	u8.set(b.subarray(dstart, dstart + nbytes));
	if (bigEndian)
		swapBytes(u8, t.size);
	let data = new t.Array(ab);
	if (h.fortran_order)
		data = fortranToC(data, shape, t.Array);
	return { dtype: name, shape: shape.slice(), data };
}

export function readNpy(file) {
	let buf;
	try {
		buf = fs.readFileSync(file);
	} catch (err) {
		throw new NpyError(`${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
	}
	return decodeNpy(buf, file);
}

/* --- writing ------------------------------------------------------------ */

export function encodeNpy(arr) {
	const t = DTYPES[arr.dtype];
	if (!t)
		throw new NpyError(`cannot write unsupported dtype '${arr.dtype}'`);
	if (!Array.isArray(arr.shape) || !arr.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
		throw new NpyError(`bad shape ${JSON.stringify(arr.shape)}`);
	const n = numel(arr.shape);
	if (!arr.data || arr.data.length !== n)
		throw new NpyError(`data has ${arr.data ? arr.data.length : 0} elements, ` +
			`shape (${arr.shape.join(', ')}) needs ${n}`);
	if (!(arr.data instanceof t.Array))
		throw new NpyError(`data of a ${arr.dtype} array must be a ${t.Array.name}`);
	const shapeText = arr.shape.length === 1 ? `(${arr.shape[0]},)` : `(${arr.shape.join(', ')})`;
	const dict = `{'descr': '${descrOf(arr.dtype)}', 'fortran_order': False, 'shape': ${shapeText}, }`;
	let major = 1;
	let pre = 10;
	let total = Math.ceil((pre + dict.length + 1) / 64) * 64;
	if (total - pre > 0xffff) {
		major = 2;
		pre = 12;
		total = Math.ceil((pre + dict.length + 1) / 64) * 64;
	}
	const hlen = total - pre;
	const head = Buffer.alloc(total, 0x20);
	MAGIC.copy(head, 0);
	head[6] = major;
	head[7] = 0;
	if (major === 1)
		head.writeUInt16LE(hlen, 8);
	else
		head.writeUInt32LE(hlen, 8);
	head.write(dict, pre, 'latin1');
	head[total - 1] = 0x0a;
	const body = Buffer.from(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength);
	return Buffer.concat([head, body]);
}

/* Write atomically: a temp file in the same folder, then rename. */
export function writeNpy(file, arr) {
	const buf = encodeNpy(arr);
	const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
	try {
		fs.writeFileSync(tmp, buf);
		fs.renameSync(tmp, file);
	} catch (err) {
		try {
			fs.unlinkSync(tmp);
		} catch {
			/* nothing to clean up */
		}
		throw new NpyError(`${file}: ${err.message}`);
	}
}
