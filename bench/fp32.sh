#!/usr/bin/env bash
# fp32.sh - qlens' FP32 engine against ONNX Runtime, per sample bundle.
#
# For every bundle in sample-models/*/ (a folder with bundle.json naming the
# model and its evaluation data) and every thread count, this runs
# bench-fp32 (qlens) and scripts/ort/run.mjs (ONNX Runtime, CPU provider)
# on the same data with the same batch size, then compares their logits with
# scripts/ort/npydiff.mjs.  The two engines run back to back for each
# configuration, and the whole sweep is repeated ROUNDS times keeping each
# engine's best figure, so load from other processes on a shared machine
# tends to hit both alike instead of skewing the ratio.
#
# usage: bench/fp32.sh [BUILD_DIR]
#   BUILD_DIR    meson build folder holding bench/bench-fp32
#                (default: $QLENS_BUILD_DIR, else "build")
# environment:
#   THREADS="1 2"  thread counts      BATCH=64     samples per chunk
#   REPEAT=3       timed passes per run (each tool reports its best)
#   ROUNDS=2       sweeps over all configurations (best kept)
#   BUNDLES="..."  bundle folders (default: every sample-models/*/bundle.json)
#   SAMPLES=N      use only the first N samples (default: all)
#   KEEP=DIR       keep logits and raw JSON in DIR (default: a temp folder)
#   ORT_ARGS="..." extra run.mjs options (e.g. --no-spin)
#   STRICT=1       exit 1 when a target is missed (qlens/ORT >= 1.0,
#                  max |logit difference| <= 1e-4)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
build=${1:-${QLENS_BUILD_DIR:-build}}
case $build in /*) ;; *) build=$root/$build ;; esac
bench=$build/bench/bench-fp32
threads_list=${THREADS:-1 2}
batch=${BATCH:-64}
repeat=${REPEAT:-3}
rounds=${ROUNDS:-2}
min_ratio=1.0
max_diff=1e-4

die() { echo "fp32.sh: $*" >&2; exit 1; }

[[ -x $bench ]] || die "$bench not found: build it first (meson setup $build && ninja -C $build)"
command -v node >/dev/null || die "node not found"
[[ -d $root/node_modules/onnxruntime-node ]] ||
	die "onnxruntime-node is not installed: run 'ONNXRUNTIME_NODE_INSTALL=skip npm ci' in $root"

if [[ -n ${KEEP:-} ]]; then
	work=$KEEP
	mkdir -p "$work"
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/qlens-fp32.XXXXXX")
	trap 'rm -rf "$work"' EXIT
fi

# bundle.json -> "MODEL<TAB>EVAL_DATA" (absolute paths)
bundle_paths() {
	node -e '
		const fs = require("fs"), path = require("path");
		const dir = process.argv[1];
		const b = JSON.parse(fs.readFileSync(path.join(dir, "bundle.json"), "utf8"));
		const data = b.evaluation && b.evaluation.data;
		if (!b.model || !data) { console.error(dir + "/bundle.json: no model or evaluation.data"); process.exit(1); }
		console.log(path.resolve(dir, b.model) + "\t" + path.resolve(dir, data));
	' "$1"
}

# a JSON field from one line of JSON
json_field() { node -e 'const o = JSON.parse(process.argv[1]); console.log(o[process.argv[2]]);' "$1" "$2"; }

if [[ -n ${BUNDLES:-} ]]; then
	read -r -a bundles <<<"$BUNDLES"
else
	bundles=()
	for f in "$root"/sample-models/*/bundle.json; do
		[[ -e $f ]] && bundles+=("$(dirname "$f")")
	done
fi
((${#bundles[@]})) || die "no bundles found in $root/sample-models/*/bundle.json"

samples_arg=()
[[ -n ${SAMPLES:-} ]] && samples_arg=(--samples "$SAMPLES")

declare -A best_q best_o
for ((round = 1; round <= rounds; round++)); do
	for b in "${bundles[@]}"; do
		name=$(basename "$b")
		IFS=$'\t' read -r model data < <(bundle_paths "$b")
		[[ -f $model ]] || die "$model: no such file"
		[[ -f $data ]] || die "$data: no such file"
		input=$data
		if [[ -n ${SAMPLES:-} ]]; then
			# run.mjs has no sample limit: cut the data once with a tiny node helper
			input=$work/$name-data-$SAMPLES.npy
			[[ -f $input ]] || node --input-type=module -e '
				import { readNpy, writeNpy, numel } from "'"$root"'/scripts/ort/npy.mjs";
				const a = readNpy(process.argv[1]), n = Math.min(+process.argv[3], a.shape[0]);
				const per = numel(a.shape.slice(1));
				writeNpy(process.argv[2], { dtype: a.dtype, shape: [n, ...a.shape.slice(1)],
					data: a.data.slice(0, n * per) });
			' "$data" "$input" "$SAMPLES"
		fi
		for t in $threads_list; do
			key="$name/$t"
			echo "fp32.sh: round $round/$rounds: $name, $t thread(s)" >&2
			q=$("$bench" "$model" "$input" --threads "$t" --batch "$batch" --repeat "$repeat" \
				--out "$work/$name-t$t-qlens.npy") || die "bench-fp32 failed on $name"
			echo "$q" >>"$work/qlens.jsonl"
			o=$(node "$root/scripts/ort/run.mjs" "$model" --input "$input" --threads "$t" \
				--batch "$batch" --repeat "$repeat" --json --quiet ${ORT_ARGS:-} \
				--output "$work/$name-t$t-ort.npy") || die "run.mjs failed on $name"
			echo "$o" >>"$work/ort.jsonl"
			qs=$(json_field "$q" samples_per_s)
			os=$(json_field "$o" samples_per_s)
			if [[ -z ${best_q[$key]:-} ]] || awk -v a="$qs" -v b="${best_q[$key]}" 'BEGIN{exit !(a>b)}'; then
				best_q[$key]=$qs
			fi
			if [[ -z ${best_o[$key]:-} ]] || awk -v a="$os" -v b="${best_o[$key]}" 'BEGIN{exit !(a>b)}'; then
				best_o[$key]=$os
			fi
		done
	done
done

missed=0
printf '\n%-20s %7s %14s %14s %11s %14s %12s  %s\n' bundle threads "qlens samp/s" "ORT samp/s" \
	"qlens/ORT" "max|dlogit|" "argmax agree" verdict
for b in "${bundles[@]}"; do
	name=$(basename "$b")
	for t in $threads_list; do
		key="$name/$t"
		d=$(node "$root/scripts/ort/npydiff.mjs" --json "$work/$name-t$t-qlens.npy" \
			"$work/$name-t$t-ort.npy") || die "npydiff failed on $name"
		maxd=$(json_field "$d" max_abs_diff)
		agree="$(json_field "$d" argmax_agree)/$(json_field "$d" rows)"
		ratio=$(awk -v a="${best_q[$key]}" -v b="${best_o[$key]}" 'BEGIN{printf "%.3f", a/b}')
		verdict=""
		if ! awk -v r="$ratio" -v m="$min_ratio" 'BEGIN{exit !(r>=m)}'; then
			verdict+="SLOWER "
		fi
		if ! awk -v d="$maxd" -v m="$max_diff" 'BEGIN{exit !(d<=m)}'; then
			verdict+="DIFF "
		fi
		[[ -n $verdict ]] && missed=1
		verdict=${verdict% }
		verdict=${verdict:-ok}
		printf '%-20s %7s %14.1f %14.1f %11s %14.3e %12s  %s\n' "$name" "$t" "${best_q[$key]}" \
			"${best_o[$key]}" "$ratio" "$maxd" "$agree" "$verdict"
	done
done
echo
echo "batch $batch, best of $repeat passes x $rounds rounds; targets: qlens/ORT >= $min_ratio," \
	"max |dlogit| <= $max_diff"
[[ -n ${KEEP:-} ]] && echo "logits and raw JSON kept in $work"
if [[ ${STRICT:-0} == 1 && $missed == 1 ]]; then
	exit 1
fi
exit 0
