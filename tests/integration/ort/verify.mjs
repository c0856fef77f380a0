#!/usr/bin/env node
/*
 * verify.mjs - qlens' simulated accuracy against ONNX Runtime running the
 * exported QDQ models.
 *
 * For every sample bundle and a fixed set of policies this runs the real
 * chain a user runs:
 *   qlens policy BUNDLE ... --out P.json          (calibrate, simulate, record)
 *   qlens export BUNDLE --policy P.json --qdq M.onnx --sim-logits S.npy
 *                --trt-precisions T.txt
 *   qlens export BUNDLE --policy P.json --ort-overrides O.json [--ort-partial]
 *   node scripts/ort/run.mjs M.onnx --input eval.npy --output R.npy
 * and checks, on the bundle's evaluation set:
 *   |top-1(qlens) - top-1(ONNX Runtime)| <= 0.3 points
 *   agreement of the two predictions   >= 99.5 %
 * plus that the ONNX Runtime override file obeys ONNX Runtime's
 * TensorQuantOverrides rules (quantization/tensor_quant_overrides.py) and
 * names only tensors the policy records, that it is refused (naming the
 * nodes, writing nothing) exactly for the policies with nodes it cannot
 * express (fp16, per-block int4) and written with --ort-partial, that the
 * TensorRT file carries both trtexec flags, and, per bundle, that a policy
 * recorded for another model (sha256) is refused with a clear message and
 * accepted with --accept-model-change.
 *
 * ONNX Runtime runs at its default optimization level ("all": QDQ groups are
 * fused into integer kernels, as a deployment runs them); the checks apply
 * there.  Each model also runs with optimizations disabled, where ONNX Runtime
 * executes the Q/DQ graph as written: that agreement is reported too, and
 * tells the export's semantics apart from the integer kernels' rounding.  When the runtime
 * refuses a model at that level, the error is recorded and the model runs at
 * the highest level that loads it ("extended", then "basic", which does no
 * QDQ fusion); the table says so.  A format whose model ONNX Runtime cannot
 * load at any level is reported as such, with its error, and is not a test
 * failure (the point is to say which formats the CPU provider runs).
 *
 * usage: node verify.mjs --qlens PATH [--samples DIR] [--work DIR]
 *                        [--table FILE.md] [--bundle NAME ...] [--policy NAME ...]
 * The Markdown table (stdout, and FILE.md with --table) is the one README.md
 * shows; rerun it with
 *   node tests/integration/ort/verify.mjs --qlens build/ui/qlens --table t.md
 * Exit: 0 all checks passed, 1 a check failed, 77 ONNX Runtime is missing
 * (meson's "skipped").
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../../..');
const RUN = path.join(ROOT, 'scripts/ort/run.mjs');

const TOP1_TOL = 0.003;
const MIN_AGREE = 0.995;

/* name, label, qlens policy arguments (a function of the bundle for the mixed
 * one); ortRefuses: the ONNX Runtime quantizer options must be refused (fp16
 * nodes, per-block weights) unless --ort-partial is given */
const POLICIES = [
	{ name: 'int8-pt', label: 'int8 per-tensor', args: () => ['--preset', 'int8', '--granularity', 'per-tensor'] },
	{ name: 'int8-pc', label: 'int8 per-channel', args: () => ['--preset', 'int8'] },
	{ name: 'mixed', label: 'int8 + fp16 (first and last weight layers)', args: (b) => ['--preset', 'int8', ...b.mixedSets], ortRefuses: true },
	{ name: 'w4a8', label: 'int4 weights (per-block 32) / uint8 activations', args: () => ['--preset', 'w4a8'], ortRefuses: true },
	{ name: 'w8a16', label: 'int8 weights / int16 activations', args: () => ['--preset', 'w8a16'] },
	{ name: 'fp8', label: 'fp8 e4m3 weights and activations', args: () => ['--preset', 'fp8e4m3'] },
];

function parseArgs(argv) {
	const o = { qlens: null, samples: path.join(ROOT, 'sample-models'), work: null, table: null,
		bundles: [], policies: [] };
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		const v = () => {
			if (i + 1 >= argv.length)
				throw new Error(`${a} needs a value`);
			return argv[++i];
		};
		if (a === '--qlens') o.qlens = v();
		else if (a === '--samples') o.samples = v();
		else if (a === '--work') o.work = v();
		else if (a === '--table') o.table = v();
		else if (a === '--bundle') o.bundles.push(v());
		else if (a === '--policy') o.policies.push(v());
		else throw new Error(`unknown argument '${a}'`);
	}
	if (!o.qlens)
		throw new Error('--qlens PATH is required');
	return o;
}

function sh(cmd, args) {
	try {
		return { ok: true, out: execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
	} catch (err) {
		/* ONNX Runtime colours its log lines: keep the text only */
		const text = `${err.stdout || ''}${err.stderr || ''}`.replace(/\x1b\[[0-9;]*m/g, '').trim();
		return { ok: false, out: text || String(err) };
	}
}

function argmaxRows(arr) {
	const [n, c] = arr.shape;
	const out = new Int32Array(n);
	for (let r = 0; r < n; r++) {
		let best = -Infinity;
		let k = 0;
		for (let j = 0; j < c; j++) {
			const x = arr.data[r * c + j];
			if (x > best) {
				best = x;
				k = j;
			}
		}
		out[r] = k;
	}
	return out;
}

/* ONNX Runtime's TensorQuantOverrides validation (tensor_quant_overrides.py), in JS. */
export function checkOverrides(doc, knownTensors) {
	const problems = [];
	const ov = doc?.quantize_static?.extra_options?.TensorQuantOverrides;
	if (!ov || typeof ov !== 'object')
		return ['no quantize_static.extra_options.TensorQuantOverrides'];
	const noScale = ['symmetric', 'reduce_range', 'rmax', 'rmin'];
	for (const [name, list] of Object.entries(ov)) {
		if (!knownTensors.has(name))
			problems.push(`'${name}' is not a tensor the policy records`);
		if (!Array.isArray(list) || list.length === 0 || typeof list[0] !== 'object') {
			problems.push(`'${name}': not a non-empty list of dicts`);
			continue;
		}
		const first = list[0];
		const perChannel = list.length > 1 || 'axis' in first;
		for (const [i, d] of list.entries()) {
			if (('scale' in d) !== ('zero_point' in d))
				problems.push(`'${name}'[${i}]: scale and zero_point must come together`);
			if ('scale' in d && noScale.some((k) => k in d))
				problems.push(`'${name}'[${i}]: ${noScale.join('/')} are invalid with scale`);
			if (perChannel && i > 0 && 'quant_type' in d && d.quant_type !== first.quant_type)
				problems.push(`'${name}'[${i}]: channel quant types differ`);
			if (perChannel && i > 0 && ('scale' in first) && !('scale' in d))
				problems.push(`'${name}'[${i}]: per-channel scales must be given for all channels`);
		}
		if (perChannel) {
			if (!('axis' in first))
				problems.push(`'${name}': per-channel overrides need 'axis' in the first dict`);
			if ('convert' in first)
				problems.push(`'${name}': 'convert' is not allowed on initializers`);
		} else if ('convert' in first) {
			const cv = first.convert;
			if (!cv.quant_type)
				problems.push(`'${name}': convert needs a quant_type`);
			if (cv.quant_type === first.quant_type)
				problems.push(`'${name}': convert must change the quant_type`);
			if (('scale' in cv) !== ('zero_point' in cv))
				problems.push(`'${name}': convert scale and zero_point must come together`);
		}
		const types = ['QInt8', 'QUInt8', 'QInt16', 'QUInt16', 'QInt4', 'QUInt4', 'QFLOAT8E4M3FN'];
		if ('quant_type' in first && !types.includes(first.quant_type))
			problems.push(`'${name}': unknown quant_type ${first.quant_type}`);
	}
	for (const n of doc.quantize_static.nodes_to_exclude || [])
		if (typeof n !== 'string')
			problems.push('nodes_to_exclude holds a non-string');
	return problems;
}

function policyTensors(policy) {
	const names = new Set();
	for (const n of Object.values(policy.nodes || {})) {
		const t = n.tensors;
		if (!t)
			continue;
		for (const a of [...(t.inputs || []), ...(t.outputs || [])])
			names.add(a.name);
		if (t.weight)
			names.add(t.weight.name);
		if (t.bias)
			names.add(t.bias.name);
	}
	return names;
}

/* A policy made for another model (its recorded sha256 changed) is refused
 * with a message naming both hashes and the way out, and accepted with
 * --accept-model-change. */
function checkModelHash(o, b, work) {
	const src = path.join(work, `${b.name}.int8-pc.json`);
	if (!fs.existsSync(src))
		return [];
	const pol = JSON.parse(fs.readFileSync(src, 'utf8'));
	const fake = '0'.repeat(64);
	pol.model.sha256 = fake;
	const f = path.join(work, `${b.name}.other-model.json`);
	fs.writeFileSync(f, JSON.stringify(pol, null, 1));
	const args = ['export', b.dir, '--policy', f, '--trt-precisions', path.join(work, `${b.name}.other.trt.txt`)];
	let r = sh(o.qlens, args);
	if (r.ok)
		return ['a policy recorded for another model (sha256 changed) was accepted'];
	if (!r.out.includes(`made for a model with sha256 ${fake}`) || !r.out.includes('--accept-model-change'))
		return [`model-hash refusal does not say what is wrong: ${r.out}`];
	r = sh(o.qlens, [...args, '--accept-model-change']);
	return r.ok ? [] : [`--accept-model-change did not accept the policy: ${r.out}`];
}

async function main() {
	const o = parseArgs(process.argv.slice(2));
	let npy;
	try {
		await import('onnxruntime-node');
		npy = await import(path.join(ROOT, 'scripts/ort/npy.mjs'));
	} catch (err) {
		process.stderr.write(`verify.mjs: onnxruntime-node is not installed (run ` +
			`'ONNXRUNTIME_NODE_INSTALL=skip npm ci' at the repository root): ${err.message}\n`);
		return 77;
	}
	const work = o.work || fs.mkdtempSync(path.join(os.tmpdir(), 'qlens-ort-'));
	fs.mkdirSync(work, { recursive: true });
	const names = o.bundles.length ? o.bundles : ['fashion-resnet', 'fashion-mobilenet', 'fashion-vit'];
	const bundles = [];
	for (const n of names) {
		const dir = path.join(o.samples, n);
		const bj = path.join(dir, 'bundle.json');
		if (!fs.existsSync(bj)) {
			process.stdout.write(`# ${n}: not present, skipped\n`);
			continue;
		}
		const j = JSON.parse(fs.readFileSync(bj, 'utf8'));
		bundles.push({ name: n, dir, evalData: path.resolve(dir, j.evaluation.data),
			labels: path.resolve(dir, j.evaluation.labels), mixedSets: [] });
	}
	if (bundles.length === 0) {
		process.stderr.write('verify.mjs: no sample bundle found\n');
		return 1;
	}
	const policies = o.policies.length ? POLICIES.filter((p) => o.policies.includes(p.name)) : POLICIES;
	/* known deviations: "BUNDLE POLICY REASON" lines */
	const known = new Map();
	const devFile = path.join(HERE, 'expected-deviations.txt');
	if (fs.existsSync(devFile))
		for (const line of fs.readFileSync(devFile, 'utf8').split('\n')) {
			const m = /^\s*([^#\s]\S*)\s+(\S+)\s+(.*)$/.exec(line);
			if (m)
				known.set(`${m[1]} ${m[2]}`, m[3].trim());
		}
	const rows = [];
	let failed = 0;
	for (const b of bundles) {
		const labels = npy.readNpy(b.labels);
		for (const p of policies) {
			const base = path.join(work, `${b.name}.${p.name}`);
			const row = { bundle: b.name, policy: p.name, label: p.label };
			rows.push(row);
			const fail = (msg, numeric = false) => {
				row.error = msg;
				row.ok = false;
				const why = known.get(`${b.name} ${p.name}`);
				if (numeric && why) {
					row.known = why;
					process.stdout.write(`KNOWN ${b.name} ${p.name}: ${msg} (${why})\n`);
					return;
				}
				failed++;
				process.stdout.write(`FAIL ${b.name} ${p.name}: ${msg}\n`);
			};
			if (p.name === 'mixed' && b.mixedSets.length === 0) {
				/* first and last layers with weights, from the int8 policy's records */
				const ref = `${path.join(work, `${b.name}.int8-pc`)}.json`;
				let pol;
				if (fs.existsSync(ref)) {
					pol = JSON.parse(fs.readFileSync(ref, 'utf8'));
				} else {
					const r = sh(o.qlens, ['policy', b.dir, '--preset', 'int8', '--out', ref]);
					if (!r.ok) {
						fail(`qlens policy: ${r.out}`);
						continue;
					}
					pol = JSON.parse(fs.readFileSync(ref, 'utf8'));
				}
				const withW = Object.entries(pol.nodes).filter(([, n]) => n.tensors?.weight).map(([k]) => k);
				b.mixedSets = ['--set', `${withW[0]}=fp16`, '--set', `${withW[withW.length - 1]}=fp16`];
				row.label += `: ${withW[0]}, ${withW[withW.length - 1]}`;
			}
			let r = sh(o.qlens, ['policy', b.dir, ...p.args(b), '--out', `${base}.json`]);
			if (!r.ok) {
				fail(`qlens policy: ${r.out}`);
				continue;
			}
			r = sh(o.qlens, ['export', b.dir, '--policy', `${base}.json`, '--qdq', `${base}.onnx`,
				'--sim-logits', `${base}.sim.npy`, '--trt-precisions', `${base}.trt.txt`]);
			if (!r.ok) {
				fail(`qlens export: ${r.out}`);
				continue;
			}
			const policy = JSON.parse(fs.readFileSync(`${base}.json`, 'utf8'));
			row.opset = (/opset (\d+)/.exec(r.out) || [])[1];
			/* ONNX Runtime's quantizer options: refused, naming the nodes, when the
			 * policy has what they cannot express; then written with --ort-partial */
			const ortArgs = ['export', b.dir, '--policy', `${base}.json`, '--ort-overrides', `${base}.ort.json`];
			fs.rmSync(`${base}.ort.json`, { force: true });
			r = sh(o.qlens, ortArgs);
			const refused = !r.ok && /cannot express \d+ node\(s\) of this policy: '/.test(r.out);
			if (!r.ok && !refused) {
				fail(`qlens export --ort-overrides: ${r.out}`);
				continue;
			}
			if (refused !== Boolean(p.ortRefuses)) {
				fail(refused ? `ORT overrides refused unexpectedly: ${r.out}` :
					'ORT overrides written although the policy has nodes they cannot express');
				continue;
			}
			if (refused) {
				if (fs.existsSync(`${base}.ort.json`)) {
					fail('a refused ORT override export left a file behind');
					continue;
				}
				row.ort_refused = (/cannot express (\d+) node/.exec(r.out) || [])[1];
				r = sh(o.qlens, [...ortArgs, '--ort-partial']);
				if (!r.ok) {
					fail(`qlens export --ort-overrides --ort-partial: ${r.out}`);
					continue;
				}
			}
			const ovProblems = checkOverrides(JSON.parse(fs.readFileSync(`${base}.ort.json`, 'utf8')),
				policyTensors(policy));
			if (ovProblems.length) {
				fail(`ORT overrides break ORT's rules: ${ovProblems.slice(0, 3).join('; ')}`);
				continue;
			}
			const trt = fs.readFileSync(`${base}.trt.txt`, 'utf8');
			if (!/^--layerPrecisions=\S+$/m.test(trt) || !/^--layerOutputTypes=\S+$/m.test(trt)) {
				fail('the TensorRT file lacks --layerPrecisions / --layerOutputTypes');
				continue;
			}
			/* ONNX Runtime, at the highest optimization level that loads the model */
			row.notes = [];
			let ran = false;
			for (const opt of ['all', 'extended', 'basic']) {
				const t0 = process.hrtime.bigint();
				r = sh(process.execPath, [RUN, `${base}.onnx`, '--input', b.evalData,
					'--output', `${base}.ort.npy`, '--opt', opt, '--quiet', '--json']);
				if (r.ok) {
					row.opt = opt;
					row.ort_seconds = Number(process.hrtime.bigint() - t0) / 1e9;
					ran = true;
					break;
				}
				row.notes.push(`--opt ${opt}: ${r.out.replace(/\s+/g, ' ').slice(0, 400)}`);
			}
			if (!ran) {
				row.unsupported = true;
				row.ok = true;
				process.stdout.write(`UNSUPPORTED ${b.name} ${p.name}: ${row.notes.join(' | ')}\n`);
				continue;
			}
			const sim = npy.readNpy(`${base}.sim.npy`);
			const ort = npy.readNpy(`${base}.ort.npy`);
			const as = argmaxRows(sim);
			const ao = argmaxRows(ort);
			const n = as.length;
			/* the graph as written: no fusions, no rewrites */
			r = sh(process.execPath, [RUN, `${base}.onnx`, '--input', b.evalData,
				'--output', `${base}.ortd.npy`, '--opt', 'disabled', '--quiet']);
			if (r.ok) {
				const ad = argmaxRows(npy.readNpy(`${base}.ortd.npy`));
				let same = 0;
				for (let i = 0; i < n; i++)
					same += ad[i] === as[i] ? 1 : 0;
				row.agreement_disabled = same / n;
			}
			let cq = 0;
			let co = 0;
			let agree = 0;
			for (let i = 0; i < n; i++) {
				const y = Number(labels.data[i]);
				cq += as[i] === y ? 1 : 0;
				co += ao[i] === y ? 1 : 0;
				agree += as[i] === ao[i] ? 1 : 0;
			}
			Object.assign(row, { samples: n, fp32: policy.evaluation.fp32, qlens_policy: policy.evaluation.quantized,
				qlens: cq / n, ort: co / n, agreement: agree / n });
			const problems = [];
			if (Math.abs(row.qlens - row.ort) > TOP1_TOL + 1e-12)
				problems.push(`top-1 differs by ${(100 * Math.abs(row.qlens - row.ort)).toFixed(2)} points`);
			if (row.agreement < MIN_AGREE)
				problems.push(`agreement ${(100 * row.agreement).toFixed(2)} % < ${100 * MIN_AGREE} %`);
			if (Math.abs(row.qlens - row.qlens_policy) > TOP1_TOL + 1e-12)
				problems.push(`the exported simulation's top-1 ${row.qlens} is not the policy's ${row.qlens_policy}`);
			if (problems.length) {
				fail(problems.join('; '), true);
			} else {
				row.ok = true;
				if (known.has(`${b.name} ${p.name}`))
					process.stdout.write(`note: ${b.name} ${p.name} passes now; remove it from ` +
						`expected-deviations.txt\n`);
				process.stdout.write(`ok   ${b.name} ${p.name}: qlens ${(100 * row.qlens).toFixed(2)} %, ` +
					`ORT ${(100 * row.ort).toFixed(2)} % (opt ${row.opt}), agreement ` +
					`${(100 * row.agreement).toFixed(2)} %\n`);
			}
		}
	}
	for (const b of bundles) {
		const problems = checkModelHash(o, b, work);
		if (problems.length) {
			failed++;
			process.stdout.write(`FAIL ${b.name} model hash: ${problems.join('; ')}\n`);
		} else if (fs.existsSync(path.join(work, `${b.name}.int8-pc.json`))) {
			process.stdout.write(`ok   ${b.name}: a policy for another model is refused, and accepted with --accept-model-change\n`);
		}
	}
	const pct = (x) => (x === undefined ? '-' : `${(100 * x).toFixed(2)} %`);
	let md = '| bundle | policy | opset | FP32 top-1 | qlens top-1 | ORT top-1 | agreement | ORT opt | ' +
		'agreement, opt disabled | ORT overrides | result |\n|---|---|---|---|---|---|---|---|---|---|---|\n';
	for (const r of rows) {
		const res = r.unsupported ? 'ORT cannot run it' : r.ok ? 'pass' : r.known ? 'known deviation' : 'FAIL';
		md += `| ${r.bundle} | ${r.label} | ${r.opset ?? '-'} | ${pct(r.fp32)} | ${pct(r.qlens)} | ` +
			`${pct(r.ort)} | ${pct(r.agreement)} | ${r.opt ?? '-'} | ${pct(r.agreement_disabled)} | ` +
			`${r.ort_refused ? `refused (${r.ort_refused} nodes); --ort-partial` : r.error && !r.samples ? '-' : 'written'} | ${res} |\n`;
	}
	const notes = rows.filter((r) => r.notes?.length || r.error)
		.map((r) => `- ${r.bundle} / ${r.policy}: ${[...(r.notes || []), ...(r.error ? [r.error] : [])].join(' | ')}`);
	if (notes.length)
		md += `\nNotes:\n${notes.join('\n')}\n`;
	process.stdout.write(`\n${md}`);
	if (o.table)
		fs.writeFileSync(o.table, md);
	fs.writeFileSync(path.join(work, 'results.json'), JSON.stringify(rows, null, 1));
	if (!o.work)
		fs.rmSync(work, { recursive: true, force: true });
	return failed ? 1 : 0;
}

main().then((code) => {
	process.exitCode = code;
}, (err) => {
	process.stderr.write(`verify.mjs: ${err.stack || err}\n`);
	process.exitCode = 1;
});
