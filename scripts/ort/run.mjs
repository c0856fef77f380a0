#!/usr/bin/env node
/*
 * run.mjs - run an ONNX model in ONNX Runtime (CPU) on .npy inputs.
 *
 * ONNX Runtime is qlens' reference: the FP32 benchmark (bench/fp32.sh)
 * compares qlens' engine with it for speed and logits, and the integration
 * tests run the quantized models qlens exports through it.  This script is
 * the one place that drives it, so it checks everything it can before ORT
 * sees the data and words its errors for a person: input names, dtypes and
 * shapes are matched against the model's metadata first.
 *
 * How it works: the inputs are read with npy.mjs and cut into chunks of
 * --batch samples along their shared leading dimension (typed-array views,
 * no copies; a model with a fixed batch size gets its last chunk zero-padded
 * and the padding trimmed from the outputs).  One warm-up chunk runs first;
 * then --repeat full passes run, timing only session.run() with a monotonic
 * clock, and the best pass is reported.  The outputs of the last pass are
 * concatenated along the leading dimension and written as .npy files.
 *
 * Usage: see USAGE below.  Exit status: 0 ok, 1 failure, 2 bad usage.
 */
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';

import { DTYPES, NpyError, convert, numel, readNpy, writeNpy } from './npy.mjs';

const USAGE = `usage: node scripts/ort/run.mjs MODEL.onnx --input [NAME=]FILE.npy ...
       [--output [NAME=]FILE.npy | --output DIR] [--threads N] [--batch N]
       [--repeat R] [--opt disabled|basic|extended|all] [--no-spin]
       [--config KEY=VALUE ...] [--json] [--quiet]

  --input    one per model input, in the model's input order unless NAME= is
             given; several files may follow one --input
  --output   FILE.npy for a single-output model (or NAME=FILE.npy for one
             chosen output, repeatable), or a DIR that receives <output>.npy
             for every output; omit to write nothing
  --threads  ONNX Runtime intra-op threads (default 1); inter-op threads are 1
  --batch    samples per session.run along the leading dimension (default 64,
             or the model's fixed batch size); 0 = all inputs in one run,
             unchunked
  --repeat   timed full passes after one warm-up chunk; best is reported
             (default 1)
  --opt      graph optimization level (default all)
  --no-spin  intra-op threads sleep instead of spinning while they wait
             (ORT's default is to spin; spinning suffers on a busy machine)
  --config   an ONNX Runtime session config entry, repeatable, e.g.
             optimization.disable_specified_optimizers=QDQSelectorActionTransformer
             (run at --opt all without the QDQ fusions) or session.disable_quant_qdq=1
  --json     print {"samples","seconds","samples_per_s","threads","batch",...}
  --quiet    no notes on stderr (conversions, padding)`;

class UsageError extends Error {}
class RunError extends Error {}

const OPT_LEVELS = ['disabled', 'basic', 'extended', 'all'];

function parseIntArg(name, v, min) {
	if (v === undefined)
		throw new UsageError(`${name} needs a value`);
	if (!/^\d+$/.test(v) || Number(v) < min)
		throw new UsageError(`${name}: expected an integer >= ${min}, got '${v}'`);
	return Number(v);
}

/* "[NAME=]FILE": a whole argument naming an existing file is a file. */
function splitNamed(arg) {
	const eq = arg.indexOf('=');
	if (eq <= 0 || fs.existsSync(arg))
		return { name: null, file: arg };
	return { name: arg.slice(0, eq), file: arg.slice(eq + 1) };
}

/* ONNX Runtime's session config entries as onnxruntime-node takes them: the
 * dotted keys ("session.intra_op.allow_spinning") as nested objects. */
export function sessionConfig(opts) {
	const extra = {};
	const entries = [['session.intra_op.allow_spinning', opts.spin ? '1' : '0'], ...opts.config];
	for (const [key, value] of entries) {
		const parts = key.split('.');
		let o = extra;
		for (const k of parts.slice(0, -1)) {
			if (typeof o[k] !== 'object')
				o[k] = {};
			o = o[k];
		}
		o[parts[parts.length - 1]] = value;
	}
	return extra;
}

export function parseArgs(argv) {
	const o = {
		model: null, inputs: [], outputs: [], threads: 1, batch: null, repeat: 1,
		opt: 'all', spin: true, config: [], json: false, quiet: false, help: false,
	};
	for (let i = 0; i < argv.length; i++) {
		let a = argv[i];
		let val;
		const takeValue = () => {
			if (val !== undefined)
				return val;
			i++;
			return argv[i];
		};
		if (a.startsWith('--') && a.includes('=')) {
			val = a.slice(a.indexOf('=') + 1);
			a = a.slice(0, a.indexOf('='));
		}
		switch (a) {
		case '-h':
		case '--help':
			o.help = true;
			break;
		case '--input':
		case '--output': {
			const list = a === '--input' ? o.inputs : o.outputs;
			const first = takeValue();
			if (first === undefined || first.startsWith('--'))
				throw new UsageError(`${a} needs a file`);
			list.push(splitNamed(first));
			/* further files up to the next option */
			while (val === undefined && i + 1 < argv.length && !argv[i + 1].startsWith('--'))
				list.push(splitNamed(argv[++i]));
			break;
		}
		case '--threads':
			o.threads = parseIntArg(a, takeValue(), 1);
			break;
		case '--batch':
			o.batch = parseIntArg(a, takeValue(), 0);
			break;
		case '--repeat':
			o.repeat = parseIntArg(a, takeValue(), 1);
			break;
		case '--opt': {
			const v = takeValue();
			if (!OPT_LEVELS.includes(v))
				throw new UsageError(`--opt: expected one of ${OPT_LEVELS.join(', ')}, got '${v}'`);
			o.opt = v;
			break;
		}
		case '--no-spin':
			o.spin = false;
			break;
		case '--config': {
			const v = takeValue();
			const eq = v === undefined ? -1 : v.indexOf('=');
			if (eq <= 0 || v.startsWith('.') || v.slice(0, eq).endsWith('.') || v.slice(0, eq).includes('..'))
				throw new UsageError(`--config: expected KEY=VALUE (e.g. session.disable_quant_qdq=1), got '${v}'`);
			o.config.push([v.slice(0, eq), v.slice(eq + 1)]);
			break;
		}
		case '--json':
			o.json = true;
			break;
		case '--quiet':
			o.quiet = true;
			break;
		default:
			if (a.startsWith('-'))
				throw new UsageError(`unknown option '${a}'`);
			if (o.model)
				throw new UsageError(`unexpected argument '${a}' (the model is '${o.model}')`);
			o.model = a;
		}
	}
	if (o.help)
		return o;
	if (!o.model)
		throw new UsageError('no model given');
	if (o.inputs.length === 0)
		throw new UsageError('no --input given');
	const dirOut = o.outputs.filter((x) => !x.name && !x.file.endsWith('.npy'));
	if (dirOut.length > 0 && o.outputs.length > 1)
		throw new UsageError('--output DIR cannot be combined with other --output files');
	return o;
}

function fmtShape(s) {
	return `[${s.map((d) => (typeof d === 'number' && d >= 0 ? d : '?')).join(',')}]`;
}

/* Pair each model input with an array read from its file. */
function bindInputs(session, specs, note) {
	const names = session.inputNames;
	const meta = new Map((session.inputMetadata || []).map((m) => [m.name, m]));
	const named = specs.filter((s) => s.name);
	if (named.length > 0 && named.length !== specs.length)
		throw new UsageError('give NAME= for every --input or for none');
	let pairs;
	if (named.length > 0) {
		pairs = specs.map((s) => {
			if (!names.includes(s.name))
				throw new UsageError(`the model has no input '${s.name}' (inputs: ${names.join(', ')})`);
			return [s.name, s.file];
		});
		const seen = new Set();
		for (const [n] of pairs) {
			if (seen.has(n))
				throw new UsageError(`input '${n}' given twice`);
			seen.add(n);
		}
		const missing = names.filter((n) => !seen.has(n));
		if (missing.length)
			throw new UsageError(`no --input for model input(s) ${missing.join(', ')}`);
	} else {
		if (specs.length !== names.length)
			throw new UsageError(`the model has ${names.length} input(s) (${names.join(', ')}) ` +
				`but ${specs.length} --input file(s) were given`);
		pairs = names.map((n, i) => [n, specs[i].file]);
	}
	return pairs.map(([name, file]) => {
		let arr = readNpy(file);
		const m = meta.get(name);
		if (m && m.isTensor === false)
			throw new RunError(`model input '${name}' is not a tensor; run.mjs feeds tensors only`);
		if (m && m.type && m.type !== arr.dtype) {
			if (!DTYPES[m.type])
				throw new RunError(`model input '${name}' has type ${m.type}, which .npy files cannot hold`);
			note(`${file}: converting ${arr.dtype} to ${m.type} for input '${name}'`);
			arr = convert(arr, m.type);
		}
		const mshape = m && Array.isArray(m.shape) && m.shape.length ? m.shape : null;
		if (mshape) {
			const bad = mshape.length !== arr.shape.length ||
				mshape.some((d, k) => k > 0 && typeof d === 'number' && d >= 0 && d !== arr.shape[k]);
			if (bad)
				throw new RunError(`${file}: shape ${fmtShape(arr.shape)} does not fit model input ` +
					`'${name}' of shape ${fmtShape(mshape)}`);
		}
		const fixedLead = mshape && typeof mshape[0] === 'number' && mshape[0] > 0 ? mshape[0] : null;
		return { name, file, arr, fixedLead };
	});
}

function chooseBatch(opts, inputs, samples) {
	const fixed = [...new Set(inputs.filter((x) => x.fixedLead).map((x) => x.fixedLead))];
	if (fixed.length > 1)
		throw new RunError(`model inputs disagree on their fixed leading dimension (${fixed.join(', ')})`);
	if (opts.batch === 0)
		return { batch: 0, fixed: null };
	if (fixed.length === 1) {
		if (opts.batch !== null && opts.batch !== fixed[0])
			throw new UsageError(`the model has a fixed batch size of ${fixed[0]}; ` +
				`use --batch ${fixed[0]} (or omit --batch)`);
		return { batch: fixed[0], fixed: fixed[0] };
	}
	const b = opts.batch === null ? 64 : opts.batch;
	return { batch: Math.min(b, Math.max(samples, 1)), fixed: null };
}

/* Feeds for samples [lo, hi); zero-padded to `pad` samples when set. */
function makeFeeds(ort, inputs, lo, hi, pad) {
	const feeds = {};
	for (const x of inputs) {
		const a = x.arr;
		const per = numel(a.shape.slice(1));
		let data = a.data.subarray(lo * per, hi * per);
		let n = hi - lo;
		if (pad && n < pad) {
			const full = new DTYPES[a.dtype].Array(pad * per);
			full.set(data);
			data = full;
			n = pad;
		}
		feeds[x.name] = new ort.Tensor(a.dtype, data, [n, ...a.shape.slice(1)]);
	}
	return feeds;
}

/* Gathers one pass's output chunks into whole arrays. */
class OutputCollector {
	constructor(samples, chunked) {
		this.samples = samples;
		this.chunked = chunked;
		this.arrays = new Map();
	}

	add(results, lo, hi, padded) {
		for (const [name, t] of Object.entries(results)) {
			if (!DTYPES[t.type])
				throw new RunError(`output '${name}' has type ${t.type}, which .npy files cannot hold`);
			const dims = t.dims.map(Number);
			if (!this.chunked) {
				this.arrays.set(name, { dtype: t.type, shape: dims, data: t.data.slice() });
				continue;
			}
			const n = hi - lo;
			if (dims.length === 0 || (dims[0] !== n && dims[0] !== padded))
				throw new RunError(`output '${name}' has shape ${fmtShape(dims)}, whose leading ` +
					`dimension is not the ${n} samples fed; it cannot be split in batches ` +
					`(use --batch 0 to run all samples at once)`);
			const per = numel(dims.slice(1));
			let out = this.arrays.get(name);
			if (!out) {
				out = {
					dtype: t.type, shape: [this.samples, ...dims.slice(1)],
					data: new DTYPES[t.type].Array(this.samples * per),
				};
				this.arrays.set(name, out);
			} else if (out.dtype !== t.type || numel(out.shape.slice(1)) !== per) {
				throw new RunError(`output '${name}' changed type or shape between batches`);
			}
			out.data.set(t.data.subarray(0, n * per), lo * per);
		}
	}
}

function safeFileName(name) {
	const s = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
	return s || 'output';
}

function writeOutputs(session, specs, arrays, note) {
	if (specs.length === 0)
		return [];
	const names = session.outputNames;
	const written = [];
	const isDir = specs.length === 1 && !specs[0].name && !specs[0].file.endsWith('.npy');
	if (isDir) {
		const dir = specs[0].file;
		try {
			fs.mkdirSync(dir, { recursive: true });
		} catch (err) {
			throw new RunError(`${dir}: cannot create the output folder: ${err.message}`);
		}
		const used = new Set();
		for (const n of names) {
			let base = safeFileName(n);
			while (used.has(base))
				base += '_';
			used.add(base);
			const file = path.join(dir, `${base}.npy`);
			writeNpy(file, arrays.get(n));
			written.push(file);
		}
		note(`wrote ${written.join(', ')}`);
		return written;
	}
	for (const s of specs) {
		let name = s.name;
		if (!name) {
			if (names.length !== 1)
				throw new UsageError(`the model has ${names.length} outputs (${names.join(', ')}): ` +
					'give --output DIR or --output NAME=FILE.npy');
			name = names[0];
		}
		if (!arrays.has(name))
			throw new UsageError(`the model has no output '${name}' (outputs: ${names.join(', ')})`);
		writeNpy(s.file, arrays.get(name));
		written.push(s.file);
	}
	note(`wrote ${written.join(', ')}`);
	return written;
}

export async function main(argv) {
	const opts = parseArgs(argv);
	if (opts.help) {
		process.stdout.write(USAGE + '\n');
		return 0;
	}
	const note = (msg) => {
		if (!opts.quiet)
			process.stderr.write(`run.mjs: ${msg}\n`);
	};
	if (!fs.existsSync(opts.model))
		throw new RunError(`${opts.model}: no such file`);

	let ort;
	try {
		ort = await import('onnxruntime-node');
	} catch (err) {
		throw new RunError('cannot load onnxruntime-node (run ' +
			'`ONNXRUNTIME_NODE_INSTALL=skip npm ci` at the repository root): ' + err.message);
	}

	let session;
	try {
		session = await ort.InferenceSession.create(opts.model, {
			executionProviders: ['cpu'],
			intraOpNumThreads: opts.threads,
			interOpNumThreads: 1,
			executionMode: 'sequential',
			graphOptimizationLevel: opts.opt,
			extra: sessionConfig(opts),
		});
	} catch (err) {
		throw new RunError(`${opts.model}: ONNX Runtime cannot load the model: ${err.message}`);
	}

	try {
		const inputs = bindInputs(session, opts.inputs, note);
		let samples;
		const leads = inputs.map((x) => (x.arr.shape.length ? x.arr.shape[0] : null));
		const { batch, fixed } = chooseBatch(opts, inputs, leads[0] ?? 1);
		if (batch === 0) {
			samples = leads[0] ?? 1;
		} else {
			inputs.forEach((x, k) => {
				if (leads[k] === null)
					throw new RunError(`${x.file}: a scalar cannot be split in batches (use --batch 0)`);
				if (leads[k] !== leads[0])
					throw new RunError(`inputs disagree on the number of samples: ${inputs[0].file} has ` +
						`${leads[0]}, ${x.file} has ${leads[k]} (use --batch 0 to feed them whole)`);
			});
			samples = leads[0];
			if (samples === 0)
				throw new RunError(`${inputs[0].file}: no samples (leading dimension is 0)`);
		}
		const chunks = [];
		if (batch === 0) {
			chunks.push([0, samples]);
		} else {
			for (let lo = 0; lo < samples; lo += batch)
				chunks.push([lo, Math.min(lo + batch, samples)]);
		}
		if (fixed && samples % fixed)
			note(`the model's batch size is fixed at ${fixed}: padding the last batch of ` +
				`${samples % fixed} sample(s) with zeros`);

		const feedsOf = (lo, hi) => (batch === 0 ?
			Object.fromEntries(inputs.map((x) => [x.name,
				new ort.Tensor(x.arr.dtype, x.arr.data, x.arr.shape)])) :
			makeFeeds(ort, inputs, lo, hi, fixed));
		const run = async (feeds) => {
			try {
				return await session.run(feeds);
			} catch (err) {
				throw new RunError(`${opts.model}: ONNX Runtime failed: ${err.message}`);
			}
		};

		/* warm-up: one chunk, untimed */
		await run(feedsOf(...chunks[0]));

		let best = Infinity;
		let collector = null;
		for (let r = 0; r < opts.repeat; r++) {
			const last = r === opts.repeat - 1;
			if (last)
				collector = new OutputCollector(samples, batch !== 0);
			let ns = 0n;
			for (const [lo, hi] of chunks) {
				const feeds = feedsOf(lo, hi);
				const t0 = process.hrtime.bigint();
				const res = await run(feeds);
				ns += process.hrtime.bigint() - t0;
				if (last)
					collector.add(res, lo, hi, fixed);
			}
			const s = Number(ns) / 1e9;
			if (s < best)
				best = s;
		}

		const written = writeOutputs(session, opts.outputs, collector.arrays, note);
		const report = {
			samples,
			seconds: Number(best.toPrecision(6)),
			samples_per_s: Number((samples / best).toPrecision(6)),
			threads: opts.threads,
			batch: batch === 0 ? samples : batch,
			repeat: opts.repeat,
			opt: opts.opt,
			spin: opts.spin,
			model: opts.model,
			runtime: `onnxruntime-node ${ort.env.versions?.node ?? '?'}`,
			outputs: written,
		};
		if (opts.json) {
			process.stdout.write(JSON.stringify(report) + '\n');
		} else {
			process.stdout.write(`${opts.model}: ${samples} samples in ${report.seconds} s ` +
				`(best of ${opts.repeat}), ${report.samples_per_s} samples/s, ` +
				`threads ${opts.threads}, batch ${report.batch}, opt ${opts.opt}\n`);
		}
	} finally {
		await session.release?.();
	}
	return 0;
}

const isMain = process.argv[1] &&
	fs.realpathSync(process.argv[1]) === fs.realpathSync(new URL(import.meta.url).pathname);
if (isMain) {
	main(process.argv.slice(2)).then((code) => {
		process.exitCode = code;
	}, (err) => {
		if (err instanceof UsageError) {
			process.stderr.write(`run.mjs: ${err.message} (see --help)\n`);
			process.exitCode = 2;
		} else if (err instanceof RunError || err instanceof NpyError) {
			process.stderr.write(`run.mjs: ${err.message}\n`);
			process.exitCode = 1;
		} else {
			process.stderr.write(`run.mjs: internal error: ${err.stack || err}\n`);
			process.exitCode = 1;
		}
	});
}
