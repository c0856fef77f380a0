/*
 * npy.test.mjs - tests for npy.mjs, npydiff.mjs and run.mjs (node:test).
 *
 * Run with `npm test` (node --test scripts/ort/) after
 * `ONNXRUNTIME_NODE_INSTALL=skip npm ci`.  Nothing here needs Python: .npy
 * images with unusual headers are built byte by byte, and the run.mjs tests
 * write a tiny ONNX model (MatMul + Add + Relu) with a hand-rolled protobuf
 * encoder, then check ONNX Runtime's answer against the same arithmetic
 * done in JS, across batch chunking and fixed-batch padding.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { compare } from './npydiff.mjs';
import { parseArgs, sessionConfig } from './run.mjs';
import {
	DTYPES, NpyError, convert, decodeNpy, encodeNpy, floatToHalf, halfToFloat, readNpy, writeNpy,
} from './npy.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

function rawNpy(major, header, body) {
	const pre = major === 1 ? 10 : 12;
	let h = header;
	while ((pre + h.length + 1) % 16)
		h += ' ';
	h += '\n';
	const head = Buffer.alloc(pre);
	Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]).copy(head);
	if (major === 1)
		head.writeUInt16LE(h.length, 8);
	else
		head.writeUInt32LE(h.length, 8);
	return Buffer.concat([head, Buffer.from(h, major === 3 ? 'utf8' : 'latin1'), body]);
}

test('every dtype survives encode/decode', () => {
	for (const [name, t] of Object.entries(DTYPES)) {
		const data = new t.Array(6);
		for (let i = 0; i < 6; i++)
			data[i] = t.Array === BigInt64Array || t.Array === BigUint64Array ? BigInt(i * 3) : i * 3 % 2 ? 1 : 0;
		const back = decodeNpy(encodeNpy({ dtype: name, shape: [2, 3], data }));
		assert.equal(back.dtype, name);
		assert.deepEqual(back.shape, [2, 3]);
		assert.deepEqual(Array.from(back.data), Array.from(data));
	}
});

test('header is padded to 64 bytes and ends in a newline', () => {
	const b = encodeNpy({ dtype: 'float32', shape: [5], data: new Float32Array(5) });
	const hlen = b.readUInt16LE(8);
	assert.equal((10 + hlen) % 64, 0);
	assert.equal(b[10 + hlen - 1], 0x0a);
	assert.match(b.subarray(10, 10 + hlen).toString('latin1'), /'shape': \(5,\)/);
});

test('versions 2 and 3, big-endian, native and Fortran order', () => {
	const be = Buffer.alloc(8);
	be.writeFloatBE(1.5, 0);
	be.writeFloatBE(-2, 4);
	const a = decodeNpy(rawNpy(2, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", be));
	assert.deepEqual(Array.from(a.data), [1.5, -2]);
	const le = Buffer.from(new Int32Array([1, 2, 3, 4, 5, 6]).buffer);
	const f = decodeNpy(rawNpy(3, "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }", le));
	/* Fortran [[1,3,5],[2,4,6]] in C order */
	assert.deepEqual(Array.from(f.data), [1, 3, 5, 2, 4, 6]);
	const n = decodeNpy(rawNpy(1, '{"descr": "=i4", "fortran_order": False, "shape": (6L,)}', le));
	assert.deepEqual(Array.from(n.data), [1, 2, 3, 4, 5, 6]);
	const s = decodeNpy(rawNpy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
		Buffer.from(new Float64Array([7.25]).buffer)));
	assert.deepEqual(s.shape, []);
	assert.equal(s.data[0], 7.25);
});

test('malformed files are refused with a message', () => {
	const ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
	const body = Buffer.alloc(8);
	const bad = [
		[Buffer.from('not numpy at all'), /bad magic/],
		[rawNpy(1, ok, Buffer.alloc(4)), /needs 8/],
		[rawNpy(1, ok, Buffer.alloc(12)), /needs 8/],
		[rawNpy(1, "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", body), /unsupported/],
		[rawNpy(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", body), /header/],
		[rawNpy(1, "{'descr': '<f4', 'shape': (2,), }", body), /fortran_order/],
		[rawNpy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", body), /shape|header/],
		[rawNpy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x", body), /trailing/],
		[Buffer.concat([rawNpy(1, ok, body).subarray(0, 6), Buffer.from([4, 0, 0, 0])]), /version 4/],
	];
	for (const [buf, re] of bad)
		assert.throws(() => decodeNpy(buf, 't.npy'), (e) => e instanceof NpyError && re.test(e.message));
});

test('float16 conversion rounds to nearest even', () => {
	const cases = [[1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65520, 0x7c00], [2 ** -24, 1],
		[2 ** -25, 0], [3 * 2 ** -25, 2], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02],
		[Infinity, 0x7c00], [0, 0]];
	for (const [f, h] of cases)
		assert.equal(floatToHalf(f), h, `floatToHalf(${f})`);
	assert.ok(Number.isNaN(halfToFloat(floatToHalf(NaN))));
	for (let h = 0; h < 0x7c00; h += 97)
		assert.equal(floatToHalf(halfToFloat(h)), h);
});

test('convert rounds half to even and saturates', () => {
	const a = { dtype: 'float32', shape: [6], data: new Float32Array([2.5, 3.5, -2.5, 300, -300, 1.2]) };
	assert.deepEqual(Array.from(convert(a, 'int8').data), [2, 4, -2, 127, -128, 1]);
	assert.deepEqual(Array.from(convert(a, 'uint8').data), [2, 4, 0, 255, 0, 1]);
	assert.deepEqual(Array.from(convert(a, 'int64').data), [2n, 4n, -2n, 300n, -300n, 1n]);
	assert.deepEqual(Array.from(convert(a, 'bool').data), [1, 1, 1, 1, 1, 1]);
});

test('writeNpy replaces atomically and readNpy names missing files', () => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'npytest-'));
	const f = path.join(dir, 'a.npy');
	writeNpy(f, { dtype: 'int32', shape: [2], data: new Int32Array([1, 2]) });
	writeNpy(f, { dtype: 'int32', shape: [1], data: new Int32Array([9]) });
	assert.deepEqual(Array.from(readNpy(f).data), [9]);
	assert.deepEqual(fs.readdirSync(dir), ['a.npy']);
	assert.throws(() => readNpy(path.join(dir, 'none.npy')), /no such file/);
	fs.rmSync(dir, { recursive: true });
});

test('npydiff compare: max difference and argmax agreement', () => {
	const a = { dtype: 'float32', shape: [2, 3], data: new Float32Array([0, 1, 2, 5, 4, 3]) };
	const b = { dtype: 'float64', shape: [2, 3], data: new Float64Array([0, 1, 2.5, 5, 5.5, 3]) };
	const r = compare(a, b);
	assert.equal(r.max_abs_diff, 1.5);
	assert.deepEqual(r.max_at, [1, 1]);
	assert.equal(r.argmax_agree, 1);
	assert.equal(r.rows, 2);
	assert.throws(() => compare(a, { dtype: 'float32', shape: [3, 2], data: new Float32Array(6) }), /shapes differ/);
});

/* --- a tiny ONNX model, protobuf by hand ------------------------------- */

function varint(n) {
	const out = [];
	let v = BigInt(n);
	do {
		let byte = Number(v & 0x7fn);
		v >>= 7n;
		if (v)
			byte |= 0x80;
		out.push(byte);
	} while (v);
	return Buffer.from(out);
}
const key = (field, wire) => varint((field << 3) | wire);
const fVarint = (field, n) => Buffer.concat([key(field, 0), varint(n)]);
const fBytes = (field, b) => {
	const buf = Buffer.isBuffer(b) ? b : Buffer.from(b, 'utf8');
	return Buffer.concat([key(field, 2), varint(buf.length), buf]);
};

function valueInfo(name, dims) {
	const shape = Buffer.concat(dims.map((d) =>
		fBytes(1, typeof d === 'number' ? fVarint(1, d) : fBytes(2, d))));
	const tensorType = Buffer.concat([fVarint(1, 1), fBytes(2, shape)]);
	return Buffer.concat([fBytes(1, name), fBytes(2, fBytes(1, tensorType))]);
}

function initializer(name, dims, values) {
	return Buffer.concat([...dims.map((d) => fVarint(1, d)), fVarint(2, 1), fBytes(8, name),
		fBytes(9, Buffer.from(new Float32Array(values).buffer))]);
}

function node(op, inputs, outputs) {
	return Buffer.concat([...inputs.map((i) => fBytes(1, i)), ...outputs.map((o) => fBytes(2, o)),
		fBytes(3, `${op}_0`), fBytes(4, op)]);
}

const W = [0.5, -1, 2, 0.25, -0.75, 1.5]; /* [3,2] */
const B = [0.1, -0.2];

function tinyModel(batchDim) {
	const graph = Buffer.concat([
		fBytes(1, node('MatMul', ['x', 'W'], ['mm'])),
		fBytes(1, node('Add', ['mm', 'b'], ['lin'])),
		fBytes(1, node('Relu', ['lin'], ['y'])),
		fBytes(2, 'tiny'),
		fBytes(5, initializer('W', [3, 2], W)),
		fBytes(5, initializer('b', [2], B)),
		fBytes(11, valueInfo('x', [batchDim, 3])),
		fBytes(12, valueInfo('y', [batchDim, 2])),
	]);
	return Buffer.concat([fVarint(1, 8), fBytes(7, graph), fBytes(8, fVarint(2, 13))]);
}

function reference(x, n) {
	const y = new Float32Array(n * 2);
	for (let i = 0; i < n; i++)
		for (let j = 0; j < 2; j++) {
			let s = Math.fround(0);
			for (let k = 0; k < 3; k++)
				s = Math.fround(s + Math.fround(x[i * 3 + k] * W[k * 2 + j]));
			y[i * 2 + j] = Math.max(Math.fround(s + Math.fround(B[j])), 0);
		}
	return y;
}

test('run.mjs session config entries nest by their dots', () => {
	assert.deepEqual(sessionConfig({ spin: false, config: [['session.disable_quant_qdq', '1'],
		['optimization.disable_specified_optimizers', 'A,B']] }), {
		session: { intra_op: { allow_spinning: '0' }, disable_quant_qdq: '1' },
		optimization: { disable_specified_optimizers: 'A,B' },
	});
	assert.deepEqual(parseArgs(['m.onnx', '--input', 'x.npy', '--config', 'a.b=c=d']).config, [['a.b', 'c=d']]);
	assert.throws(() => parseArgs(['m.onnx', '--input', 'x.npy', '--config', '=x']), /KEY=VALUE/);
	assert.throws(() => parseArgs(['m.onnx', '--input', 'x.npy', '--config', 'a..b=1']), /KEY=VALUE/);
});

function runScript(args) {
	return spawnSync(process.execPath, [path.join(here, 'run.mjs'), ...args], { encoding: 'utf8' });
}

const haveOrt = fs.existsSync(path.join(here, '..', '..', 'node_modules', 'onnxruntime-node'));

test('run.mjs matches the arithmetic, chunked, padded and whole', { skip: !haveOrt && 'npm ci first' }, () => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runtest-'));
	const n = 10;
	const x = new Float32Array(n * 3).map((_, i) => Math.sin(i * 1.7) * 3);
	const xf = path.join(dir, 'x.npy');
	writeNpy(xf, { dtype: 'float32', shape: [n, 3], data: x });
	const ref = reference(x, n);
	fs.writeFileSync(path.join(dir, 'dyn.onnx'), tinyModel('N'));
	fs.writeFileSync(path.join(dir, 'fixed.onnx'), tinyModel(4));
	const runs = [
		['dyn.onnx', ['--batch', '4']],
		['dyn.onnx', ['--batch', '0']],
		['dyn.onnx', ['--batch', '3', '--threads', '2', '--opt', 'disabled', '--repeat', '2']],
		['fixed.onnx', []],
		['dyn.onnx', ['--config', 'session.disable_quant_qdq=1',
			'--config=optimization.disable_specified_optimizers=QDQSelectorActionTransformer']],
	];
	for (const [model, extra] of runs) {
		const out = path.join(dir, 'y.npy');
		const r = runScript([path.join(dir, model), '--input', xf, '--output', out, '--json',
			'--quiet', ...extra]);
		assert.equal(r.status, 0, `${model} ${extra.join(' ')}: ${r.stderr}`);
		const rep = JSON.parse(r.stdout);
		assert.equal(rep.samples, n);
		assert.ok(rep.samples_per_s > 0);
		const y = readNpy(out);
		assert.deepEqual(y.shape, [n, 2]);
		for (let i = 0; i < ref.length; i++)
			assert.ok(Math.abs(y.data[i] - ref[i]) <= 1e-6, `${model} ${extra}: y[${i}]`);
	}
	/* errors a person can act on */
	const wrong = runScript([path.join(dir, 'dyn.onnx'), '--input', 'z=' + xf]);
	assert.equal(wrong.status, 2);
	assert.match(wrong.stderr, /no input 'z'/);
	const badConfig = runScript([path.join(dir, 'dyn.onnx'), '--input', xf, '--config', 'session.']);
	assert.equal(badConfig.status, 2);
	assert.match(badConfig.stderr, /--config: expected KEY=VALUE/);
	const fixedBatch = runScript([path.join(dir, 'fixed.onnx'), '--input', xf, '--batch', '5']);
	assert.equal(fixedBatch.status, 2);
	assert.match(fixedBatch.stderr, /fixed batch size of 4/);
	fs.rmSync(dir, { recursive: true });
});
