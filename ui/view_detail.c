/*
 * view_detail.c - one node under its current precision.
 *
 * Figures first (weights: SQNR, clipped fraction, scale, zero point,
 * granularity; input activation: observed and calibrated range, estimated
 * SQNR and clipping, scale, zero point, calibrator), then plots:
 *  - histograms of the weights and of the input activation, with the clip
 *    range marked (bars beyond it drawn as clipped) and the quantization grid
 *    as ticks on the axis when a step is at least two cells wide (otherwise
 *    its size is written out);
 *  - the error histograms (quantized - FP32) of both;
 *  - a per-output-channel strip of weight ranges: each column is a channel's
 *    max |w| against the widest channel, coloured by how many grid levels a
 *    per-tensor scale leaves it - the picture of why per-tensor fails on
 *    depthwise layers.
 * The statistics come from the model's helper thread (explore.h); while a new
 * result is computed the previous one stays on screen, marked as updating.
 * The plots stack at 80 columns and sit side by side from 120.
 */
#include <curses.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explore.h"
#include "tui.h"

static const char *fmt_val(double v, char *buf, size_t size)
{
	double a = fabs(v);
	if (!isfinite(v))
		snprintf(buf, size, "%s", v > 0 ? "inf" : v < 0 ? "-inf" : "nan");
	else if (a != 0 && (a < 1e-3 || a >= 1e5))
		snprintf(buf, size, "%.2e", v);
	else
		snprintf(buf, size, "%.4g", v);
	return buf;
}

/* A histogram with markers.  h >= 3: title row, h-2 bar rows, axis row. */
static void plot_hist(int y, int x, int h, int w, const char *title, const struct explore_hist *hs,
		      double clip_lo, double clip_hi, double step, bool log_scale)
{
	char b1[32], b2[32], b3[64];
	tui_put(y, x, w, R_HEADER, title);
	if (!hs || !hs->count || hs->n < 1 || w < 8 || h < 3)
		return;
	int hb = h - 2;
	double *col = calloc((size_t)w, sizeof *col);
	if (!col)
		return;
	double span = hs->hi - hs->lo;
	for (int b = 0; b < hs->n; b++) {
		double c = hs->lo + (b + 0.5) * span / hs->n;
		int k = (int)floor((c - hs->lo) / span * w);
		k = k < 0 ? 0 : k >= w ? w - 1 : k;
		col[k] += hs->count[b];
	}
	double mx = 0;
	for (int k = 0; k < w; k++)
		mx = col[k] > mx ? col[k] : mx;
	int cl = -1, ch = -1;
	if (isfinite(clip_lo) && clip_lo >= hs->lo && clip_lo <= hs->hi)
		cl = (int)floor((clip_lo - hs->lo) / span * w);
	if (isfinite(clip_hi) && clip_hi >= hs->lo && clip_hi <= hs->hi)
		ch = (int)floor((clip_hi - hs->lo) / span * w);
	if (ch >= w)
		ch = w - 1;
	for (int k = 0; k < w; k++) {
		double v = mx > 0 ? col[k] / mx : 0;
		if (log_scale && col[k] > 0 && mx > 1)
			v = log1p(col[k]) / log1p(mx);
		int e = (int)lround(v * hb * 8);
		if (col[k] > 0 && e == 0)
			e = 1; /* keep lone outliers visible */
		double cx = hs->lo + (k + 0.5) * span / w;
		bool clipped = (isfinite(clip_lo) && cx < clip_lo) || (isfinite(clip_hi) && cx > clip_hi);
		enum tui_role r = clipped ? R_BAD : R_BAR;
		for (int row = 0; row < hb; row++) {
			int cell = e - (hb - 1 - row) * 8;
			cell = cell < 0 ? 0 : cell > 8 ? 8 : cell;
			int yy = y + 1 + row;
			if (k == cl || k == ch) {
				tui_put(yy, x + k, 1, R_MARK, cell ? tui_g.vbar[cell] : tui_g.vline);
				continue;
			}
			if (cell)
				tui_put(yy, x + k, 1, r, tui_draw_utf8() ? tui_g.vbar[cell]
						   : cell >= 4 ? "#" : ".");
		}
	}
	/* axis: grid ticks when the step is at least 2 cells */
	int ya = y + h - 1;
	double cells_per_step = step > 0 ? step / span * w : 0;
	if (cells_per_step >= 2) {
		double first = ceil(hs->lo / step) * step;
		for (double v = first; v <= hs->hi; v += step) {
			int k = (int)floor((v - hs->lo) / span * w);
			if (k >= 0 && k < w)
				tui_put(ya, x + k, 1, R_GRID, tui_draw_utf8() ? "\u2575" : "'");
		}
	}
	snprintf(b3, sizeof b3, "%s", fmt_val(hs->lo, b1, sizeof b1));
	tui_put(ya, x, w, R_DIM, b3);
	tui_put_right(ya, x, w, R_DIM, fmt_val(hs->hi, b2, sizeof b2));
	if (hs->lo < 0 && hs->hi > 0) {
		int k0 = (int)floor(-hs->lo / span * w);
		if (k0 > tui_width(b3) + 1 && k0 < w - tui_width(b2) - 2)
			tui_put(ya, x + k0, 1, R_DIM, "0");
	}
	if (step > 0 && cells_per_step < 2 && w > 40) {
		char g[64];
		snprintf(g, sizeof g, " grid step %s (%.0f per cell) ", fmt_val(step, b1, sizeof b1),
			 1 / (cells_per_step > 0 ? cells_per_step : 1e-9));
		int gw = tui_width(g);
		tui_put(ya, x + (w - gw) / 2, gw, R_GRID, g);
	}
	free(col);
}

/* Per-channel range strip: h >= 2 (bars, caption). */
static void plot_channels(int y, int x, int h, int w, const struct explore_node *d)
{
	if (!d->n_ch || w < 20)
		return;
	int n = d->n_ch, hb = h - 2 > 0 ? h - 2 : 1;
	int cols = n < w ? n : w;
	double amax = 0;
	for (int c = 0; c < n; c++) {
		double a = fmax(fabs(d->ch_lo[c]), fabs(d->ch_hi[c]));
		amax = a > amax ? a : amax;
	}
	/* levels a per-tensor scale leaves each channel: the format's codes (or
	 * int8's when the node is not integer) times the channel's share */
	const struct qfmt_info *fi = qfmt_info(d->prec.wfmt);
	int codes = fi->is_float ? 255 : fi->qmax - fi->qmin;
	double *share = malloc((size_t)n * sizeof *share);
	if (!share)
		return;
	for (int c = 0; c < n; c++)
		share[c] = amax > 0 ? fmax(fabs(d->ch_lo[c]), fabs(d->ch_hi[c])) / amax : 0;
	char t[160];
	snprintf(t, sizeof t, "weight range per output channel (%d)", n);
	tui_put(y, x, w, R_HEADER, t);
	for (int k = 0; k < cols; k++) {
		int c0 = (int)((int64_t)k * n / cols), c1 = (int)((int64_t)(k + 1) * n / cols);
		double v = 0, vmin = 1;
		for (int c = c0; c < c1; c++) {
			v = share[c] > v ? share[c] : v;
			vmin = share[c] < vmin ? share[c] : vmin;
		}
		double lv = vmin * codes;
		enum tui_role r = lv < 16 ? R_BAD : lv < 64 ? R_WARN : R_GOOD;
		int e = (int)lround(v * hb * 8);
		if (e == 0)
			e = 1;
		for (int row = 0; row < hb; row++) {
			int cell = e - (hb - 1 - row) * 8;
			cell = cell < 0 ? 0 : cell > 8 ? 8 : cell;
			if (cell)
				tui_put(y + 1 + row, x + k, 1, r, tui_draw_utf8() ? tui_g.vbar[cell]
								  : cell >= 4 ? "#" : ".");
		}
	}
	/* caption: the smallest and median share in levels */
	double lo = 1, med;
	double *sorted = malloc((size_t)n * sizeof *sorted);
	if (sorted) {
		for (int c = 0; c < n; c++)
			sorted[c] = fmax(fabs(d->ch_lo[c]), fabs(d->ch_hi[c])) / (amax > 0 ? amax : 1);
		for (int i = 1; i < n; i++) { /* insertion sort: channel counts are small */
			double v = sorted[i];
			int j = i - 1;
			while (j >= 0 && sorted[j] > v) {
				sorted[j + 1] = sorted[j];
				j--;
			}
			sorted[j + 1] = v;
		}
		lo = sorted[0];
		med = sorted[n / 2];
		free(sorted);
	} else {
		med = 1;
	}
	if (h >= 2) {
		char cap[200];
		snprintf(cap, sizeof cap, "per-tensor %s leaves the narrowest channel %.0f of %d levels, "
			 "the median %.0f%s", fi->is_float ? "int8" : fi->name, lo * codes, codes,
			 med * codes, d->w_gran == QG_CHANNEL ? "; this node is per-channel" : "");
		tui_put(y + h - 1, x, w, lo * codes < 16 ? R_WARN : R_DIM, cap);
	}
	free(share);
}

static void detail_draw(struct tui *t, int y0, int x0, int h, int W)
{
	t->detail_y = y0;
	t->detail_x = x0;
	t->detail_h = h;
	t->detail_w = W;
	const struct tui_row *r = tui_sel_row(t, NULL);
	if (!r) {
		tui_put(y0 + 1, x0 + 1, W - 2, R_DIM, "no node selected");
		return;
	}
	struct precision p = policy_node(tui_model_policy(t->m), r->node);
	const char *note = NULL;
	const struct explore_node *d = tui_model_detail(t->m, r->node, &note);
	bool stale = d && !precision_equal(&d->prec, &p);
	char lab[64], cs[48], b1[32], b2[32], b3[32], b4[32];
	precision_label(&p, lab, sizeof lab);
	calib_spec_str(&p.acalib, cs, sizeof cs);

	/* title */
	tui_fill(y0, x0, W, R_COLHEAD);
	int x = x0;
	x += tui_putf(y0, x, W, R_COLHEAD, "#%d %s (%s) ", r->node, r->name, r->op);
	char right[128];
	if (precision_is_fp32(&p))
		snprintf(right, sizeof right, " fp32 ");
	else
		snprintf(right, sizeof right, " %s, weights %s, act calib %s ", lab,
			 qgran_name(p.wgran), cs);
	tui_put_right(y0, x0, W, R_COLHEAD, right);
	int y = y0 + 1;

	/* isolate deltas of this node */
	const char *const *names;
	int nc = tui_model_cands(t->m, &names);
	x = x0 + tui_put(y, x0, W, R_LABEL, "isolate ");
	for (int c = 0; c < nc && x < x0 + W; c++) {
		const struct tui_iso *iso = &r->iso[c];
		x += tui_putf(y, x, x0 + W - x, R_LABEL, "%s ", names[c]);
		if (iso->valid)
			x += tui_putf(y, x, x0 + W - x, tui_heat_role(iso), "%+.2f%s", 100 * iso->delta,
				      iso->noise ? tui_g.noise : "");
		else
			x += tui_put(y, x, x0 + W - x, R_DIM, tui_g.dot);
		x += tui_put(y, x, x0 + W - x, R_NORMAL, "  ");
	}
	y++;
	if (!d) {
		tui_put(y + 1, x0 + 2, W - 4, R_PENDING, "computing the node's statistics...");
		return;
	}
	if (stale)
		tui_put_right(y0 + 1, x0, W, R_PENDING, " updating ");

	/* figures */
	if (d->has_weight) {
		x = x0 + tui_put(y, x0, W, R_LABEL, "weights ");
		x += tui_putf(y, x, x0 + W - x, R_VALUE, "%s", tui_fmt_count(d->w_numel, b1, sizeof b1));
		if (d->w_quant) {
			x += tui_put(y, x, x0 + W - x, R_LABEL, "  SQNR ");
			x += tui_putf(y, x, x0 + W - x, d->w_sqnr < 20 ? R_WARN : R_VALUE, "%.1f dB",
				      d->w_sqnr);
			x += tui_put(y, x, x0 + W - x, R_LABEL, "  clipped ");
			x += tui_putf(y, x, x0 + W - x, d->w_clipped > 0 ? R_WARN : R_VALUE, "%.3f%%",
				      100 * d->w_clipped);
			x += tui_putf(y, x, x0 + W - x, R_LABEL, "  %s ", qgran_name(d->w_gran));
			if (d->w_nparams > 1)
				x += tui_putf(y, x, x0 + W - x, R_DIM, "(%d) ", d->w_nparams);
			if (d->w_step > 0)
				x += tui_putf(y, x, x0 + W - x, R_VALUE, "scale %s%s%s",
					      fmt_val(d->w_scale, b2, sizeof b2), d->w_zp ? " zp " : "",
					      d->w_zp ? fmt_val(d->w_zp, b3, sizeof b3) : "");
			else if (d->w_nparams)
				x += tui_putf(y, x, x0 + W - x, R_VALUE, "scale %s",
					      fmt_val(d->w_scale, b2, sizeof b2));
		} else {
			tui_putf(y, x, x0 + W - x, R_DIM, "  kept in fp32  range [%s, %s]",
				 fmt_val(d->w_min, b2, sizeof b2), fmt_val(d->w_max, b3, sizeof b3));
		}
		y++;
	}
	if (d->has_act) {
		x = x0 + tui_put(y, x0, W, R_LABEL, "input ");
		x += tui_putf(y, x, x0 + W - x, R_VALUE, "[%s, %s]", fmt_val(d->a_min, b1, sizeof b1),
			      fmt_val(d->a_max, b2, sizeof b2));
		if (d->a_quant) {
			if (d->a_step > 0 || qfmt_info(d->a_fmt)->is_float)
				x += tui_putf(y, x, x0 + W - x, R_LABEL, "  %s %s [%s, %s]",
					      qfmt_info(d->a_fmt)->name, cs,
					      fmt_val(d->a_rmin, b3, sizeof b3),
					      fmt_val(d->a_rmax, b4, sizeof b4));
			x += tui_put(y, x, x0 + W - x, R_LABEL, "  SQNR~");
			x += tui_putf(y, x, x0 + W - x, d->a_sqnr < 20 ? R_WARN : R_VALUE, "%.1f dB",
				      d->a_sqnr);
			x += tui_put(y, x, x0 + W - x, R_LABEL, "  clipped~");
			x += tui_putf(y, x, x0 + W - x, d->a_clipped > 1e-4 ? R_WARN : R_VALUE, "%.3f%%",
				      100 * d->a_clipped);
			if (d->a_step > 0)
				x += tui_putf(y, x, x0 + W - x, R_VALUE, "  scale %s zp %d",
					      fmt_val(d->a_scale, b1, sizeof b1), d->a_zp);
		} else {
			x += tui_put(y, x, x0 + W - x, R_DIM, "  kept in fp32");
		}
		y++;
	} else if (note && note[0]) {
		tui_put(y++, x0, W, R_DIM, note);
	}

	/* plots */
	int left = y0 + h - y;
	if (left < 6)
		return;
	bool side = W >= 120;
	int nplots = (d->has_weight ? 1 : 0) + (d->has_act ? 1 : 0);
	int strip_h = d->has_weight && d->n_ch > 1 ? (left >= 20 ? 5 : 3) : 0;
	int avail = left - strip_h;
	char title[160];
	if (side && nplots == 2) {
		int w1 = (W - 3) / 2, w2 = W - 3 - w1;
		int hh = avail * 3 / 5, he = avail - hh;
		snprintf(title, sizeof title, "weights, clip [%s, %s]", fmt_val(d->w_clip_lo, b1, sizeof b1),
			 fmt_val(d->w_clip_hi, b2, sizeof b2));
		plot_hist(y, x0, hh, w1, d->w_quant ? title : "weights", &d->w_hist, d->w_clip_lo,
			  d->w_clip_hi, d->w_step, false);
		snprintf(title, sizeof title, "input activation (log), clip [%s, %s]",
			 fmt_val(d->a_clip_lo, b1, sizeof b1), fmt_val(d->a_clip_hi, b2, sizeof b2));
		plot_hist(y, x0 + w1 + 3, hh, w2, d->a_quant ? title : "input activation (log)",
			  &d->a_hist, d->a_clip_lo, d->a_clip_hi, d->a_step, true);
		y += hh;
		if (he >= 3) {
			plot_hist(y, x0, he, w1, "weight error (quantized - fp32)", &d->w_err, NAN, NAN, 0,
				  false);
			plot_hist(y, x0 + w1 + 3, he, w2, "activation error~ (log)", &d->a_err, NAN, NAN, 0,
				  true);
			y += he;
		}
	} else {
		/* stacked: value histograms get more room than errors */
		int units = nplots * 3;
		int per = units ? avail / units : 0;
		if (per < 1)
			per = 1;
		if (d->has_weight) {
			int hh = per * 2 > 3 ? per * 2 : 3, he = avail / units >= 1 ? per : 0;
			if (he < 3 && avail - hh >= 3 * nplots)
				he = 3;
			snprintf(title, sizeof title, "weights, clip [%s, %s]",
				 fmt_val(d->w_clip_lo, b1, sizeof b1), fmt_val(d->w_clip_hi, b2, sizeof b2));
			plot_hist(y, x0, hh, W, d->w_quant ? title : "weights", &d->w_hist, d->w_clip_lo,
				  d->w_clip_hi, d->w_step, false);
			y += hh;
			if (he >= 3) {
				plot_hist(y, x0, he, W, "weight error (quantized - fp32)", &d->w_err, NAN,
					  NAN, 0, false);
				y += he;
			}
		}
		if (d->has_act && y0 + h - y - strip_h >= 3) {
			int room = y0 + h - y - strip_h;
			int hh = room >= 8 ? room * 2 / 3 : room, he = room - hh;
			snprintf(title, sizeof title, "input activation (log), clip [%s, %s]",
				 fmt_val(d->a_clip_lo, b1, sizeof b1), fmt_val(d->a_clip_hi, b2, sizeof b2));
			plot_hist(y, x0, hh, W, d->a_quant ? title : "input activation (log)", &d->a_hist,
				  d->a_clip_lo, d->a_clip_hi, d->a_step, true);
			y += hh;
			if (he >= 3) {
				plot_hist(y, x0, he, W, "activation error~ (log)", &d->a_err, NAN, NAN, 0,
					  true);
				y += he;
			}
		}
	}
	if (strip_h && y0 + h - y >= 3)
		plot_channels(y, x0, y0 + h - y, W, d);
}

static bool detail_action(struct tui *t, enum tui_action a)
{
	const struct tui_row *r = tui_sel_row(t, NULL);
	if (!r)
		return false;
	switch (a) {
	case A_CALIB:
	case A_GRAN: {
		struct precision p = policy_node(tui_model_policy(t->m), r->node);
		if (precision_is_fp32(&p)) {
			tui_message(t, R_WARN, "this node runs in fp32: choose a precision first (Left/Right)");
			return true;
		}
		if (a == A_CALIB) {
			const struct qfmt_info *ai = qfmt_info(p.afmt);
			if (p.afmt == QF_FP32 || p.afmt == QF_FP16 || p.afmt == QF_BF16) {
				tui_message(t, R_WARN, "%s activations need no calibration", ai->name);
				return true;
			}
			p.acalib.method = (enum calib_method)((p.acalib.method + 1) % CALIB_COUNT);
			if (p.acalib.method == CALIB_PERCENTILE && !(p.acalib.percentile > 0))
				p.acalib.percentile = 99.99;
			char cs[48];
			tui_message(t, R_STATUS, "activation calibrator: %s",
				    calib_spec_str(&p.acalib, cs, sizeof cs));
		} else {
			unsigned mask = qfmt_info(p.wfmt)->gran_mask;
			enum qgran g = p.wgran;
			for (int i = 0; i < QG_COUNT; i++) {
				g = (enum qgran)((g + 1) % QG_COUNT);
				if (mask & QG_BIT(g))
					break;
			}
			if (g == p.wgran) {
				tui_message(t, R_WARN, "%s weights have one granularity",
					    qfmt_info(p.wfmt)->name);
				return true;
			}
			p.wgran = g;
			if (g == QG_BLOCK && !p.block)
				p.block = 32;
			tui_message(t, R_STATUS, "weights %s", qgran_name(g));
		}
		tui_model_set(t->m, r->node, &p);
		return true;
	}
	case A_DETAIL:
	case A_BACK:
		t->detail_open = false;
		return true;
	default:
		/* moving and precision keys act on the table behind */
		return view_layers.action(t, a);
	}
}

static bool detail_mouse(struct tui *t, int y, int x, int dy, bool dbl)
{
	if (dy)
		return view_layers.action(t, dy < 0 ? A_UP : A_DOWN);
	return false;
}

const struct view_class view_detail = { "detail", detail_draw, detail_action, detail_mouse };
