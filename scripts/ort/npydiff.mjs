#!/usr/bin/env node
/*
 * npydiff.mjs - compare two .npy arrays (typically logits from qlens and
 * from ONNX Runtime).
 *
 * The benchmark and the integration tests need one number for "how far
 * apart are these outputs" and one for "do they classify alike"; numpy is
 * not available where those run, so this does it in plain JS.  Both arrays
 * are widened to float64 (any dtype npy.mjs reads), must have the same
 * shape, and are compared element by element: max and mean absolute
 * difference, the position of the largest difference, and, viewing the
 * arrays as rows along their last axis, how many rows have the same argmax
 * (first maximum wins, as numpy's argmax).  A NaN in one array but not the
 * other counts as an infinite difference.
 *
 * usage: node scripts/ort/npydiff.mjs A.npy B.npy [--json]
 *            [--max-abs TOL] [--min-agree FRACTION]
 * Exit status: 0 ok (and within the given limits), 1 a limit was exceeded
 * or a file could not be read, 2 bad usage.
 */
import fs from 'node:fs';
import process from 'node:process';

import { NpyError, readNpy, toFloat64 } from './npy.mjs';

const USAGE = 'usage: node scripts/ort/npydiff.mjs A.npy B.npy [--json] ' +
	'[--max-abs TOL] [--min-agree FRACTION]';

class UsageError extends Error {}

function argmaxRows(x, rowLen) {
	const rows = rowLen ? x.length / rowLen : 0;
	const out = new Int32Array(rows);
	for (let r = 0; r < rows; r++) {
		let best = -Infinity;
		let arg = 0;
		for (let j = 0; j < rowLen; j++) {
			const v = x[r * rowLen + j];
			if (v > best || (Number.isNaN(v) && !Number.isNaN(best))) {
				best = v;
				arg = j;
				if (Number.isNaN(v))
					break; /* numpy: the first NaN is the maximum */
			}
		}
		out[r] = arg;
	}
	return out;
}

/* Compare two arrays as read by npy.mjs. */
export function compare(a, b) {
	if (a.shape.length !== b.shape.length || a.shape.some((d, k) => d !== b.shape[k]))
		throw new NpyError(`shapes differ: (${a.shape.join(', ')}) vs (${b.shape.join(', ')})`);
	const x = toFloat64(a);
	const y = toFloat64(b);
	let maxAbs = 0;
	let at = -1;
	let sum = 0;
	for (let i = 0; i < x.length; i++) {
		const xn = Number.isNaN(x[i]);
		const yn = Number.isNaN(y[i]);
		let d;
		if (xn || yn)
			d = xn && yn ? 0 : Infinity;
		else if (x[i] === y[i])
			d = 0; /* also equal infinities */
		else
			d = Math.abs(x[i] - y[i]);
		sum += d;
		if (d > maxAbs || at < 0) {
			if (d > maxAbs)
				maxAbs = d;
			at = i;
		}
	}
	const rowLen = a.shape.length ? a.shape[a.shape.length - 1] : 1;
	const ax = argmaxRows(x, rowLen);
	const ay = argmaxRows(y, rowLen);
	let agree = 0;
	for (let r = 0; r < ax.length; r++)
		agree += ax[r] === ay[r] ? 1 : 0;
	/* position of the largest difference as an index tuple */
	const index = [];
	if (at >= 0) {
		let rem = at;
		for (let k = a.shape.length - 1; k >= 0; k--) {
			index.unshift(rem % a.shape[k]);
			rem = Math.floor(rem / a.shape[k]);
		}
	}
	return {
		shape: a.shape,
		elements: x.length,
		max_abs_diff: maxAbs,
		mean_abs_diff: x.length ? sum / x.length : 0,
		max_at: index,
		a_at: at >= 0 ? x[at] : null,
		b_at: at >= 0 ? y[at] : null,
		rows: ax.length,
		argmax_agree: agree,
		argmax_agree_frac: ax.length ? agree / ax.length : 1,
	};
}

function parseNum(name, v) {
	const n = Number(v);
	if (v === undefined || v === '' || !Number.isFinite(n) || n < 0)
		throw new UsageError(`${name}: expected a non-negative number, got '${v}'`);
	return n;
}

export function main(argv) {
	const files = [];
	let json = false;
	let maxAbs = null;
	let minAgree = null;
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		if (a === '--json')
			json = true;
		else if (a === '--max-abs')
			maxAbs = parseNum(a, argv[++i]);
		else if (a === '--min-agree')
			minAgree = parseNum(a, argv[++i]);
		else if (a === '-h' || a === '--help') {
			process.stdout.write(USAGE + '\n');
			return 0;
		} else if (a.startsWith('--'))
			throw new UsageError(`unknown option '${a}'`);
		else
			files.push(a);
	}
	if (files.length !== 2)
		throw new UsageError('give exactly two .npy files');
	const [fa, fb] = files;
	const r = compare(readNpy(fa), readNpy(fb));
	const failures = [];
	if (maxAbs !== null && !(r.max_abs_diff <= maxAbs))
		failures.push(`max |a-b| ${r.max_abs_diff} exceeds ${maxAbs}`);
	if (minAgree !== null && !(r.argmax_agree_frac >= minAgree))
		failures.push(`argmax agreement ${r.argmax_agree_frac} is below ${minAgree}`);
	if (json) {
		process.stdout.write(JSON.stringify({ a: fa, b: fb, ...r, ok: failures.length === 0 }) + '\n');
	} else {
		process.stdout.write(`max_abs_diff ${r.max_abs_diff.toExponential(3)} ` +
			`at [${r.max_at.join(',')}] (${r.a_at} vs ${r.b_at}), ` +
			`mean_abs_diff ${r.mean_abs_diff.toExponential(3)}, ` +
			`argmax_agree ${r.argmax_agree}/${r.rows}\n`);
	}
	for (const f of failures)
		process.stderr.write(`npydiff.mjs: ${fa} vs ${fb}: ${f}\n`);
	return failures.length ? 1 : 0;
}

const isMain = process.argv[1] &&
	fs.realpathSync(process.argv[1]) === fs.realpathSync(new URL(import.meta.url).pathname);
if (isMain) {
	try {
		process.exitCode = main(process.argv.slice(2));
	} catch (err) {
		if (err instanceof UsageError) {
			process.stderr.write(`npydiff.mjs: ${err.message}\n${USAGE}\n`);
			process.exitCode = 2;
		} else if (err instanceof NpyError) {
			process.stderr.write(`npydiff.mjs: ${err.message}\n`);
			process.exitCode = 1;
		} else {
			throw err;
		}
	}
}
