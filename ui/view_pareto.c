/*
 * view_pareto.c - measured top-1 against cost for every policy of the session.
 *
 * Points: each policy measured this session (filled; the Pareto-optimal ones
 * - no other measured policy is both cheaper and more accurate - in the
 * "good" colour) and each single-layer point of the isolate sweep (one node
 * at a candidate, the rest FP32; dots).  The current policy is a diamond, the
 * selected point is highlighted and described below the plot.  The last
 * automatic search's points (every policy it measured) are squares, its
 * frontier stars, joined by a staircase when the x axis is the cost it
 * searched for: for any cost, the best top-1 it measured at that cost or
 * less.  The x axis is
 * weight size or BitOps relative to FP32 (x toggles); a dashed line marks
 * FP32's top-1.  Left/Right walk the points in x order, Enter restores the
 * selected point's policy (an undoable edit), a click selects the nearest.
 */
#include <curses.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui.h"

static const struct tui_point *sort_pts;
static bool sort_bitops;

static double px(const struct tui_point *p, bool bitops) { return bitops ? p->bitops_rel : p->wbytes_rel; }

static int cmp_x(const void *a, const void *b)
{
	const struct tui_point *p = &sort_pts[*(const int *)a], *q = &sort_pts[*(const int *)b];
	double d = px(p, sort_bitops) - px(q, sort_bitops);
	if (d)
		return d < 0 ? -1 : 1;
	return p->top1 < q->top1 ? -1 : p->top1 > q->top1;
}

/* Points in x order; returns count (caller frees *idx). */
static int ordered(const struct tui *t, const struct tui_point **pts, int **idx)
{
	int n = tui_model_points(t->m, pts);
	*idx = malloc(((size_t)n + 1) * sizeof **idx);
	if (!*idx)
		return 0;
	for (int i = 0; i < n; i++)
		(*idx)[i] = i;
	sort_pts = *pts;
	sort_bitops = t->pt_bitops;
	qsort(*idx, (size_t)n, sizeof **idx, cmp_x);
	return n;
}

static bool frontier(const struct tui_point *pts, int n, int i, bool bitops)
{
	if (pts[i].from_sweep)
		return false;
	for (int j = 0; j < n; j++)
		if (j != i && !pts[j].from_sweep && px(&pts[j], bitops) <= px(&pts[i], bitops) &&
		    pts[j].top1 >= pts[i].top1 &&
		    (px(&pts[j], bitops) < px(&pts[i], bitops) || pts[j].top1 > pts[i].top1))
			return false;
	return true;
}

static void pareto_draw(struct tui *t, int y0, int x0, int h, int W)
{
	const struct tui_point *pts;
	int *idx;
	int n = ordered(t, &pts, &idx);
	const struct tui_status *st = tui_model_status(t->m);
	tui_fill(y0, x0, W, R_COLHEAD);
	tui_putf(y0, x0, W, R_COLHEAD, " top-1 against %s (relative to FP32)   x: axis  Enter: restore",
		 t->pt_bitops ? "BitOps" : "weight size");
	if (!n) {
		tui_put(y0 + 2, x0 + 2, W - 4, R_DIM, "no measured point yet: the sweep and the policy "
			"measurements fill this view");
		free(idx);
		return;
	}
	if (t->pt_sel < 0 || t->pt_sel >= n)
		t->pt_sel = 0;
	int lm = 8; /* left margin for y labels */
	int ph = h - 4, pw = W - lm - 1;
	t->pt_y = y0 + 1;
	t->pt_x = x0 + lm;
	t->pt_h = ph;
	t->pt_w = pw;
	if (ph < 3 || pw < 10) {
		free(idx);
		return;
	}
	double ymin = INFINITY, ymax = -INFINITY, xmax = 0;
	for (int i = 0; i < n; i++) {
		ymin = fmin(ymin, pts[i].top1);
		ymax = fmax(ymax, pts[i].top1);
		xmax = fmax(xmax, px(&pts[i], t->pt_bitops));
	}
	if (st->have_fp32) {
		ymin = fmin(ymin, st->fp32_top1);
		ymax = fmax(ymax, st->fp32_top1);
	}
	double pad = (ymax - ymin) * 0.05 + 1e-4;
	ymin -= pad;
	ymax += pad;
	xmax = xmax > 0 ? xmax * 1.05 : 1;
	/* y labels and the FP32 line */
	for (int r = 0; r < ph; r += ph > 6 ? ph / 4 : 2) {
		double v = ymax - (ymax - ymin) * r / (ph - 1);
		tui_putf(y0 + 1 + r, x0, lm - 1, R_DIM, "%6.2f%%", 100 * v);
	}
	tui_putf(y0 + ph, x0, lm - 1, R_DIM, "%6.2f%%", 100 * ymin);
	for (int r = 0; r < ph; r++)
		tui_put(y0 + 1 + r, x0 + lm - 1, 1, R_FRAME, tui_g.vline);
	if (st->have_fp32) {
		int r = (int)lround((ymax - st->fp32_top1) / (ymax - ymin) * (ph - 1));
		for (int k = 0; k < pw; k += 2)
			tui_put(y0 + 1 + r, x0 + lm + k, 1, R_DIM, tui_g.hline);
		tui_put_right(y0 + 1 + r, x0 + lm, pw, R_DIM, " FP32");
	}
	/* x axis */
	int ya = y0 + 1 + ph;
	for (int k = 0; k < pw; k++)
		tui_put(ya, x0 + lm + k, 1, R_FRAME, tui_g.hline);
	for (int k = 0; k <= 4; k++) {
		int c = k * (pw - 6) / 4;
		tui_putf(ya, x0 + lm + c, 6, R_DIM, "%.0f%%", 100 * xmax * c / pw);
	}
	/* the search's frontier: a staircase under its points, when the x axis
	 * is the cost it was searched for */
	int pc = -1, pr = -1;
	for (int k = 0; k < n; k++) {
		const struct tui_point *p = &pts[idx[k]];
		if (!p->search || !p->frontier || p->search_bitops != t->pt_bitops)
			continue;
		int c = (int)lround(px(p, t->pt_bitops) / xmax * (pw - 1));
		int r = (int)lround((ymax - p->top1) / (ymax - ymin) * (ph - 1));
		if (pc >= 0) {
			for (int cc = pc + 1; cc < c; cc++)
				tui_put(y0 + 1 + pr, x0 + lm + cc, 1, R_GOOD, tui_g.hline);
			for (int rr = r < pr ? r + 1 : pr; rr < (r < pr ? pr : r); rr++)
				tui_put(y0 + 1 + rr, x0 + lm + c, 1, R_GOOD, tui_g.vline);
			if (r != pr && c > pc)
				tui_put(y0 + 1 + pr, x0 + lm + c, 1, R_GOOD, tui_g.hline);
		}
		pc = c;
		pr = r;
	}
	/* points: sweep first, then measured on top, the selected last */
	int cur = tui_model_current_point(t->m);
	for (int pass = 0; pass < 3; pass++)
		for (int k = 0; k < n; k++) {
			int i = idx[k];
			const struct tui_point *p = &pts[i];
			bool sel = k == t->pt_sel;
			if ((pass == 0 && !p->from_sweep) || (pass == 1 && (p->from_sweep || sel)) ||
			    (pass == 2 && !sel))
				continue;
			if (pass == 0 && sel)
				continue;
			int c = (int)lround(px(p, t->pt_bitops) / xmax * (pw - 1));
			int r = (int)lround((ymax - p->top1) / (ymax - ymin) * (ph - 1));
			const char *g = i == cur ? tui_g.cur_point : p->from_sweep ? tui_g.dot
					: p->search && p->frontier ? tui_g.front_point
					: p->search ? tui_g.search_point : tui_g.point;
			enum tui_role role = sel ? R_SELECTED : i == cur ? R_PENDING
					     : p->from_sweep ? R_DIM
					     : (p->search && p->frontier) ||
					       frontier(pts, n, i, t->pt_bitops) ? R_GOOD : R_VALUE;
			tui_put(y0 + 1 + r, x0 + lm + c, 1, role, g);
		}
	/* the selected point */
	const struct tui_point *p = &pts[idx[t->pt_sel]];
	char what[200];
	if (p->from_sweep) {
		const struct tui_row *rows;
		tui_model_rows(t->m, &rows);
		const char *const *names;
		tui_model_cands(t->m, &names);
		snprintf(what, sizeof what, "sweep: %s at %s, the rest fp32", rows[p->row].name,
			 names[p->cand]);
	} else if (p->search) {
		char ev[48];
		if (p->eval_no)
			snprintf(ev, sizeof ev, "evaluation %d", p->eval_no);
		else
			snprintf(ev, sizeof ev, "measured by the sweep");
		snprintf(what, sizeof what, "search: %s%s", ev, p->frontier ? ", on its frontier"
			 : "");
	} else {
		snprintf(what, sizeof what, "policy measured this session%s",
			 frontier(pts, n, idx[t->pt_sel], t->pt_bitops) ? " (Pareto-optimal)" : "");
	}
	int yi = y0 + h - 2;
	int wx = tui_putf(yi, x0, W, idx[t->pt_sel] == cur ? R_PENDING : R_VALUE, "%s%s", what,
			  idx[t->pt_sel] == cur ? "  = current policy" : "");
	/* the legend, right of the description */
	char legend[96];
	snprintf(legend, sizeof legend, "%s search frontier  %s searched  %s measured  %s sweep ",
		 tui_g.front_point, tui_g.search_point, tui_g.point, tui_g.dot);
	if (W - wx > tui_width(legend) + 2)
		tui_put_right(yi, x0, W, R_DIM, legend);
	tui_putf(yi + 1, x0, W, R_NORMAL, "top-1 %.2f%%  %s %+.2f [%+.2f, %+.2f]  weights %.1f%%  "
		 "BitOps %.1f%%   point %d/%d", 100 * p->top1, tui_g.delta, 100 * p->delta,
		 100 * p->lo, 100 * p->hi, 100 * p->wbytes_rel, 100 * p->bitops_rel, t->pt_sel + 1, n);
	free(idx);
}

static bool pareto_action(struct tui *t, enum tui_action a)
{
	const struct tui_point *pts;
	int *idx;
	int n = ordered(t, &pts, &idx);
	bool done = true;
	switch (a) {
	case A_UP: t->pt_sel = t->pt_sel > 0 ? t->pt_sel - 1 : 0; break;
	case A_DOWN: t->pt_sel = t->pt_sel + 1 < n ? t->pt_sel + 1 : n - 1; break;
	case A_PGUP: t->pt_sel = t->pt_sel > 10 ? t->pt_sel - 10 : 0; break;
	case A_PGDN: t->pt_sel = t->pt_sel + 10 < n ? t->pt_sel + 10 : n - 1; break;
	case A_HOME: t->pt_sel = 0; break;
	case A_END: t->pt_sel = n - 1; break;
	case A_AXIS: {
		/* keep the same point selected across the re-sort */
		int keep = n ? idx[t->pt_sel] : -1;
		t->pt_bitops = !t->pt_bitops;
		free(idx);
		n = ordered(t, &pts, &idx);
		for (int k = 0; k < n; k++)
			if (idx[k] == keep)
				t->pt_sel = k;
		break;
	}
	case A_RESTORE:
		if (n && t->pt_sel < n) {
			tui_model_restore_point(t->m, &pts[idx[t->pt_sel]]);
			tui_message(t, R_STATUS, "restored the point's policy (u undoes)");
		}
		break;
	default:
		done = false;
	}
	if (t->pt_sel >= n)
		t->pt_sel = n ? n - 1 : 0;
	free(idx);
	return done;
}

static bool pareto_mouse(struct tui *t, int y, int x, int dy, bool dbl)
{
	if (dy)
		return pareto_action(t, dy < 0 ? A_UP : A_DOWN);
	const struct tui_point *pts;
	int *idx;
	int n = ordered(t, &pts, &idx);
	double xmax = 0, ymin = INFINITY, ymax = -INFINITY;
	for (int i = 0; i < n; i++) {
		xmax = fmax(xmax, px(&pts[i], t->pt_bitops));
		ymin = fmin(ymin, pts[i].top1);
		ymax = fmax(ymax, pts[i].top1);
	}
	/* nearest point on screen (the same mapping as the drawing, near enough) */
	int best = -1;
	double bd = 1e30;
	for (int k = 0; k < n && t->pt_w > 1 && t->pt_h > 1; k++) {
		const struct tui_point *p = &pts[idx[k]];
		double c = px(p, t->pt_bitops) / (xmax > 0 ? xmax * 1.05 : 1) * (t->pt_w - 1);
		double span = (ymax - ymin) * 1.1 + 2e-4;
		double r = (ymax + (ymax - ymin) * 0.05 + 1e-4 - p->top1) / span * (t->pt_h - 1);
		double d = pow(t->pt_x + c - x, 2) + 4 * pow(t->pt_y + r - y, 2);
		if (d < bd) {
			bd = d;
			best = k;
		}
	}
	free(idx);
	if (best < 0)
		return false;
	t->pt_sel = best;
	if (dbl)
		pareto_action(t, A_RESTORE);
	return true;
}

const struct view_class view_pareto = { "pareto", pareto_draw, pareto_action, pareto_mouse };
