#!/usr/bin/env bash
# ort_pairs.sh - (throughput, accuracy) pairs in ONNX Runtime: the FP32 model
# and each exported QDQ model of a set of policies, per sample bundle.
#
# For every bundle in sample-models/*/ this writes policies with
# `qlens policy` (calibrate, simulate, evaluate), exports each as a QDQ model
# with `qlens export --qdq`, then runs the FP32 model and every export in ONNX
# Runtime (scripts/ort/run.mjs --json, CPU provider, best of REPEAT timed
# passes over the evaluation set) and prints one row per model: ONNX Runtime's
# samples/s, its speed against FP32, ONNX Runtime's top-1 on the evaluation
# labels, qlens' simulated top-1 from the policy file, and the weight size the
# policy records.  The FP32 model and the exports of a bundle run back to back
# in each of ROUNDS sweeps and each keeps its best figure, so load from other
# processes tends to hit all of them alike.
#
# ONNX Runtime runs at its default optimization level ("all", where QDQ
# groups become integer kernels).  A model it refuses at that level (fp8:
# its QDQ fusions do not handle float8) runs at the highest level that loads
# it, and the row says which; a model it cannot run at any level gets a row
# saying so and its error on stderr.  Any other failure (qlens, the FP32
# model in ONNX Runtime, unreadable outputs) stops the script with one line
# naming the bundle and model, and a non-zero exit.
#
# usage: bench/ort_pairs.sh [BUILD_DIR]
#   BUILD_DIR        meson build folder holding ui/qlens (default:
#                    $QLENS_BUILD_DIR, else "build")
# environment:
#   THREADS=1        ONNX Runtime intra-op threads     BATCH=64  samples per run
#   REPEAT=3         timed passes per run (best kept)  ROUNDS=2  sweeps (best kept)
#   POLICIES="..."   names from: int8-pt int8-pc mixed w4a8 w8a16 fp8 fp16
#                    (default: all of them)
#   BUNDLES="..."    bundle folders (default: every sample-models/*/bundle.json)
#   KEEP=DIR         keep policies, models and logits in DIR (default: temp)
#   OUT=FILE.md      also write the table as Markdown
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
build=${1:-${QLENS_BUILD_DIR:-build}}
case $build in /*) ;; *) build=$root/$build ;; esac
qlens=$build/ui/qlens
threads=${THREADS:-1}
batch=${BATCH:-64}
repeat=${REPEAT:-3}
rounds=${ROUNDS:-2}
policies=${POLICIES:-int8-pt int8-pc mixed w4a8 w8a16 fp8 fp16}

die() { echo "ort_pairs.sh: $*" >&2; exit 1; }

for p in $policies; do
	case $p in
	int8-pt | int8-pc | mixed | w4a8 | w8a16 | fp8 | fp16) ;;
	*) die "POLICIES: unknown policy '$p' (known: int8-pt int8-pc mixed w4a8 w8a16 fp8 fp16)" ;;
	esac
done
[[ -n ${policies// /} ]] || die "POLICIES is empty"
for v in THREADS BATCH REPEAT ROUNDS; do
	[[ ${!v:-1} =~ ^[0-9]+$ ]] || die "$v must be a whole number, got '${!v}'"
done
((repeat >= 1 && rounds >= 1)) || die "REPEAT and ROUNDS must be at least 1"

[[ -x $qlens ]] || die "$qlens not found: build it first (meson setup $build && ninja -C $build)"
command -v node >/dev/null || die "node not found"
[[ -d $root/node_modules/onnxruntime-node ]] ||
	die "onnxruntime-node is not installed: run 'ONNXRUNTIME_NODE_INSTALL=skip npm ci' in $root"

if [[ -n ${KEEP:-} ]]; then
	work=$KEEP
	mkdir -p "$work"
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/qlens-pairs.XXXXXX")
	trap 'rm -rf "$work"' EXIT
fi

if [[ -n ${BUNDLES:-} ]]; then
	read -r -a bundles <<<"$BUNDLES"
else
	bundles=()
	for f in "$root"/sample-models/*/bundle.json; do
		[[ -e $f ]] && bundles+=("$(dirname "$f")")
	done
fi
((${#bundles[@]})) || die "no bundles found in $root/sample-models/*/bundle.json"

# bundle.json -> "MODEL<TAB>EVAL_DATA<TAB>LABELS" (absolute paths)
bundle_paths() {
	node -e '
		const fs = require("fs"), path = require("path");
		const dir = process.argv[1];
		const b = JSON.parse(fs.readFileSync(path.join(dir, "bundle.json"), "utf8"));
		const ev = b.evaluation || {};
		if (!b.model || !ev.data || !ev.labels) {
			console.error(dir + "/bundle.json: no model, evaluation.data or evaluation.labels");
			process.exit(1);
		}
		console.log([b.model, ev.data, ev.labels].map((p) => path.resolve(dir, p)).join("\t"));
	' "$1"
}

# top-1 of LOGITS.npy against LABELS.npy
top1() {
	node --input-type=module -e '
		import { readNpy, toFloat64 } from "'"$root"'/scripts/ort/npy.mjs";
		const x = readNpy(process.argv[1]), y = readNpy(process.argv[2]);
		const v = toFloat64(x), c = x.shape[1];
		let ok = 0;
		for (let r = 0; r < x.shape[0]; r++) {
			let k = 0;
			for (let j = 1; j < c; j++) if (v[r * c + j] > v[r * c + k]) k = j;
			ok += k === Number(y.data[r]) ? 1 : 0;
		}
		console.log(ok / x.shape[0]);
	' "$1" "$2"
}

# a field of a JSON file or line: jget FILE|- EXPR (EXPR in terms of o)
jget() {
	node -e '
		const fs = require("fs");
		const t = process.argv[1] === "-" ? process.argv[3] : fs.readFileSync(process.argv[1], "utf8");
		const o = JSON.parse(t);
		console.log(eval(process.argv[2]));
	' "$@"
}

policy_args() { # NAME BUNDLE_DIR
	case $1 in
	int8-pt) echo "--preset int8 --granularity per-tensor" ;;
	int8-pc) echo "--preset int8" ;;
	w4a8) echo "--preset w4a8" ;;
	w8a16) echo "--preset w8a16" ;;
	fp8) echo "--preset fp8e4m3" ;;
	fp16) echo "--preset fp16" ;;
	mixed)
		# first and last layers with weights at fp16, the rest int8
		local ref=$work/$(basename "$2").int8-pc.json
		[[ -f $ref ]] || "$qlens" policy "$2" --preset int8 --out "$ref" >/dev/null || return 1
		jget "$ref" 'Object.entries(o.nodes).filter(([, n]) => n.tensors && n.tensors.weight)
			.map(([k]) => k).filter((k, i, a) => i === 0 || i === a.length - 1)
			.map((k) => "--set " + k + "=fp16").join(" ")' | sed 's/^/--preset int8 /' ;;
	esac
}

# run.mjs at the highest optimization level that loads MODEL; prints "OPT<TAB>JSON",
# or fails with ONNX Runtime's error at the last level tried in $work/ort.err
run_ort() { # MODEL DATA OUT.npy
	local opt out
	for opt in all extended basic; do
		if out=$(node "$root/scripts/ort/run.mjs" "$1" --input "$2" --output "$3" --threads "$threads" \
			--batch "$batch" --repeat "$repeat" --opt "$opt" --quiet --json 2>"$work/ort.err"); then
			printf '%s\t%s\n' "$opt" "$out"
			return 0
		fi
	done
	return 1
}

# the first line of ONNX Runtime's last error, without colour codes
ort_error() { sed 's/\x1b\[[0-9;]*m//g' "$work/ort.err" | grep -v '^\s*$' | head -n 1 | cut -c1-300; }

rows=()
for dir in "${bundles[@]}"; do
	name=$(basename "$dir")
	IFS=$'\t' read -r model data labels <<<"$(bundle_paths "$dir")"
	declare -A best=() opt_of=() acc=() simacc=() wkib=()
	models=("fp32")
	for p in $policies; do
		pargs=$(policy_args "$p" "$dir") || die "$name $p: could not build the policy arguments"
		# shellcheck disable=SC2086
		"$qlens" policy "$dir" $pargs --out "$work/$name.$p.json" >/dev/null ||
			die "$name $p: qlens policy failed"
		"$qlens" export "$dir" --policy "$work/$name.$p.json" --qdq "$work/$name.$p.onnx" >/dev/null ||
			die "$name $p: qlens export failed"
		simacc[$p]=$(jget "$work/$name.$p.json" 'o.evaluation.quantized')
		wkib[$p]=$(jget "$work/$name.$p.json" '(o.cost.weight_bytes / 1024).toFixed(1)')
		models+=("$p")
	done
	# the FP32 reference as every policy file records it (qlens' FP32 engine)
	first=${models[1]}
	wkib[fp32]=$(jget "$work/$name.$first.json" '(o.cost.fp32_weight_bytes / 1024).toFixed(1)')
	simacc[fp32]=$(jget "$work/$name.$first.json" 'o.evaluation.fp32')
	for ((r = 0; r < rounds; r++)); do
		for m in "${models[@]}"; do
			f=$model
			[[ $m == fp32 ]] || f=$work/$name.$m.onnx
			if ! res=$(run_ort "$f" "$data" "$work/$name.$m.ort.npy"); then
				[[ $m != fp32 ]] || die "$name: the FP32 model fails in ONNX Runtime: $(ort_error)"
				[[ -n ${best[$m]:-} ]] || opt_of[$m]="fails"
				[[ $r -gt 0 ]] || echo "ort_pairs.sh: $name $m: ONNX Runtime cannot run it at any level: $(ort_error)" >&2
				continue
			fi
			o=${res%%$'\t'*}
			sps=$(jget - 'o.samples_per_s' "${res#*$'\t'}")
			[[ $sps =~ ^[0-9.e+]+$ ]] || die "$name $m: run.mjs reported no throughput ($sps)"
			if [[ -z ${best[$m]:-} ]] || node -e 'process.exit(+process.argv[1] > +process.argv[2] ? 0 : 1)' "$sps" "${best[$m]}"; then
				best[$m]=$sps
			fi
			opt_of[$m]=$o
			acc[$m]=$(top1 "$work/$name.$m.ort.npy" "$labels") || die "$name $m: cannot score ONNX Runtime's outputs"
		done
	done
	for m in "${models[@]}"; do
		if [[ ${opt_of[$m]:-fails} == fails ]]; then
			rows+=("$name|$m|-|-|-|${simacc[$m]:-}|${wkib[$m]:-}|ONNX Runtime cannot run it")
			continue
		fi
		speed=$(node -e 'console.log((+process.argv[1] / +process.argv[2]).toFixed(2))' "${best[$m]}" "${best[fp32]:-${best[$m]}}")
		rows+=("$name|$m|${best[$m]}|$speed|${acc[$m]}|${simacc[$m]:-}|${wkib[$m]:-}|${opt_of[$m]}")
	done
	unset best opt_of acc simacc wkib
done

table="| bundle | model | ORT samples/s | vs FP32 | ORT top-1 | qlens top-1 | weights KiB | ORT opt |
|---|---|---|---|---|---|---|---|"
for r in "${rows[@]}"; do
	IFS='|' read -r b m s v a q w o <<<"$r"
	pct() { [[ -n $1 && $1 != - ]] && node -e 'console.log((100 * +process.argv[1]).toFixed(2) + " %")' "$1" || echo "-"; }
	table+=$'\n'"| $b | $m | $s | $v | $(pct "$a") | $(pct "$q") | $w | $o |"
done
echo "ONNX Runtime $(node -e 'console.log(require("'"$root"'/node_modules/onnxruntime-node/package.json").version)'), threads $threads, batch $batch, best of $repeat passes x $rounds rounds"
echo "$table"
[[ -z ${OUT:-} ]] || printf '%s\n' "$table" >"$OUT"
