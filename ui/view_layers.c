/*
 * view_layers.c - the layer table: one row per sweepable node.
 *
 * Columns are rows of a small table with a priority; the layout keeps the
 * essential ones (name, the heat map of isolate deltas per candidate, the
 * node's precision) and adds the others by priority while they fit, then
 * widens the heat cells (delta, then +-half-width, then the full interval)
 * and gives what is left to the name.  So 80 columns show every column in
 * its short form and a wide terminal shows the intervals.
 *
 * Heat cells: the isolate delta in top-1 points, coloured by how much it
 * costs (tui_heat_role); a noise mark when the 95% interval contains 0; a dot
 * while the sweep has not reached the cell.  The candidate the node
 * currently runs at has a pointer.
 */
#include <curses.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tui.h"

enum col { C_NUM, C_NAME, C_OP, C_PARAMS, C_MACS, C_SQNR, C_HEAT, C_PREC, C_COUNT };

struct layout {
	bool on[C_COUNT];
	int w[C_COUNT];
	int heat_mode; /* 0: delta, 1: delta +- half-width, 2: delta [lo, hi] */
	int n_cands;
};

static const int heat_w[3] = { 8, 13, 23 };

static void plan_columns(int W, int n_cands, struct layout *L)
{
	memset(L, 0, sizeof *L);
	L->n_cands = n_cands;
	L->on[C_NAME] = L->on[C_HEAT] = L->on[C_PREC] = true;
	L->w[C_NAME] = 18;
	L->w[C_PREC] = 10;
	L->w[C_HEAT] = heat_w[0];
	int used = L->w[C_NAME] + 1 + n_cands * L->w[C_HEAT] + L->w[C_PREC];
	static const struct { enum col c; int w; } optional[] = {
		{ C_SQNR, 7 }, { C_OP, 11 }, { C_NUM, 5 }, { C_PARAMS, 8 }, { C_MACS, 8 },
	};
	for (size_t i = 0; i < sizeof optional / sizeof optional[0]; i++)
		if (used + optional[i].w <= W) {
			L->on[optional[i].c] = true;
			L->w[optional[i].c] = optional[i].w;
			used += optional[i].w;
		}
	for (int mode = 1; mode < 3; mode++) {
		int extra = n_cands * (heat_w[mode] - L->w[C_HEAT]);
		if (used + extra + 16 <= W) { /* widen only when the name keeps room */
			used += extra;
			L->w[C_HEAT] = heat_w[mode];
			L->heat_mode = mode;
		}
	}
	int spare = W - used;
	if (spare > 0) {
		int grow = spare < 44 ? spare : 44;
		L->w[C_NAME] += grow;
	}
}

static void heat_text(const struct tui_iso *iso, int mode, char *buf, size_t size)
{
	if (!iso->valid) {
		snprintf(buf, size, "%s ", tui_g.dot);
		return;
	}
	const char *mark = iso->noise ? tui_g.noise : " ";
	double d = 100 * iso->delta;
	if (mode == 0)
		snprintf(buf, size, "%+.2f%s", d, mark);
	else if (mode == 1)
		snprintf(buf, size, "%+.2f%s%.2f%s", d, tui_g.pm, 50 * (iso->hi - iso->lo), mark);
	else
		snprintf(buf, size, "%+.2f [%+.2f,%+.2f]%s", d, 100 * iso->lo, 100 * iso->hi, mark);
}

/* Shorten an exporter's path-like name for a narrow column: drop a path
 * component that only repeats the start of the next one
 * ("/features/features.1/block/block.0/Conv" -> "/features.1/block.0/Conv"). */
static void compact_name(const char *in, char *out, size_t size)
{
	size_t o = 0;
	const char *p = in;
	while (*p && o + 1 < size) {
		const char *slash = *p == '/' ? strchr(p + 1, '/') : NULL;
		if (slash) {
			size_t n = (size_t)(slash - (p + 1));
			if (n && strncmp(p + 1, slash + 1, n) == 0 && slash[1 + n] == '.') {
				p = slash; /* skip "/features", keep "/features.1" */
				continue;
			}
		}
		out[o++] = *p++;
	}
	out[o] = 0;
}

static int sel_index(const struct tui *t, const struct tui_row *rows)
{
	for (int i = 0; i < t->n_order; i++)
		if (rows[t->order[i]].node == t->sel_node)
			return i;
	return -1;
}

static void layers_draw(struct tui *t, int y0, int x0, int h, int W)
{
	const struct tui_row *rows;
	tui_model_rows(t->m, &rows);
	const char *const *names;
	int nc = tui_model_cands(t->m, &names);
	struct layout L;
	plan_columns(W, nc, &L);
	t->table_y = y0 + 1;
	t->table_h = h - 1;
	t->table_x = x0;
	t->table_w = W;

	/* column heads */
	tui_fill(y0, x0, W, R_COLHEAD);
	int x = x0;
	const char *arrow = tui_g.down;
	if (L.on[C_NUM]) {
		tui_put_right(y0, x, L.w[C_NUM] - 1, R_COLHEAD, "#");
		x += L.w[C_NUM];
	}
	{
		int si0 = sel_index(t, rows);
		char pos[32] = "";
		if (t->n_order > h - 1)
			snprintf(pos, sizeof pos, " %d/%d", si0 + 1, t->n_order);
		x += tui_putf(y0, x, L.w[C_NAME], R_COLHEAD, "node%s%s%s", pos, t->filter[0] ? " /" : "",
			      t->filter[0] ? t->filter : "");
	}
	x = (L.on[C_NUM] ? x0 + L.w[C_NUM] : x0) + L.w[C_NAME] + 1;
	if (L.on[C_OP]) {
		tui_put(y0, x, L.w[C_OP] - 1, R_COLHEAD, "op");
		x += L.w[C_OP];
	}
	if (L.on[C_PARAMS]) {
		char h1[16];
		snprintf(h1, sizeof h1, "%sparams", t->sort == SORT_SIZE ? arrow : "");
		tui_put_right(y0, x, L.w[C_PARAMS] - 1, R_COLHEAD, h1);
		x += L.w[C_PARAMS];
	}
	if (L.on[C_MACS]) {
		tui_put_right(y0, x, L.w[C_MACS] - 1, R_COLHEAD, "MACs");
		x += L.w[C_MACS];
	}
	if (L.on[C_SQNR]) {
		tui_put_right(y0, x, L.w[C_SQNR] - 1, R_COLHEAD, "SQNR");
		x += L.w[C_SQNR];
	}
	for (int c = 0; c < nc; c++) {
		char h1[48];
		snprintf(h1, sizeof h1, "%s%s%s", c == 0 && t->sort == SORT_SENS ? arrow : "",
			 L.heat_mode ? "isolate " : "", names[c]);
		tui_put_right(y0, x, L.w[C_HEAT] - 1, R_COLHEAD, h1);
		x += L.w[C_HEAT];
	}
	tui_put(y0, x + 1, L.w[C_PREC] - 1, R_COLHEAD, "precision");

	/* rows */
	int body = h - 1;
	int si = sel_index(t, rows);
	if (si < 0 && t->n_order)
		si = 0;
	if (si < t->top)
		t->top = si;
	if (si >= t->top + body)
		t->top = si - body + 1;
	if (t->top > t->n_order - body)
		t->top = t->n_order - body;
	if (t->top < 0)
		t->top = 0;
	if (!t->n_order) {
		tui_put(y0 + 2, x0 + 2, W - 4, R_DIM,
			t->filter[0] ? "no node matches the filter (Esc clears it)"
				     : "no quantizable nodes");
		return;
	}
	const struct policy *pol = tui_model_policy(t->m);
	for (int i = 0; i < body && t->top + i < t->n_order; i++) {
		const struct tui_row *r = &rows[t->order[t->top + i]];
		int y = y0 + 1 + i;
		bool sel = r->node == t->sel_node;
		enum tui_role base = sel ? R_SELECTED : R_NORMAL;
		if (sel)
			tui_fill(y, x0, W, R_SELECTED);
		struct precision p = policy_node(pol, r->node);
		int cur = tui_model_cand_of(t->m, &p);
		char b[96];
		x = x0;
		if (L.on[C_NUM]) {
			snprintf(b, sizeof b, "%d", r->node);
			tui_put_right(y, x, L.w[C_NUM] - 1, sel ? R_SELECTED : R_DIM, b);
			x += L.w[C_NUM];
		}
		/* long names keep their end (the distinctive part) */
		const char *nm = r->name;
		char shortname[TUI_NAME_MAX];
		if (tui_width(nm) > L.w[C_NAME]) {
			compact_name(r->name, shortname, sizeof shortname);
			nm = shortname;
		}
		int nw = tui_width(nm);
		if (nw > L.w[C_NAME]) {
			int x1 = x + tui_put(y, x, 1, base, tui_g.ellipsis);
			while (*nm && tui_width(nm) > L.w[C_NAME] - 1)
				nm++;
			while ((*nm & 0xc0) == 0x80)
				nm++;
			tui_put(y, x1, L.w[C_NAME] - 1, base, nm);
		} else {
			tui_put(y, x, L.w[C_NAME], base, nm);
		}
		x += L.w[C_NAME] + 1;
		if (L.on[C_OP]) {
			tui_put(y, x, L.w[C_OP] - 1, base, r->op);
			x += L.w[C_OP];
		}
		if (L.on[C_PARAMS]) {
			tui_put_right(y, x, L.w[C_PARAMS] - 1, base, tui_fmt_count(r->params, b, sizeof b));
			x += L.w[C_PARAMS];
		}
		if (L.on[C_MACS]) {
			tui_put_right(y, x, L.w[C_MACS] - 1, base, tui_fmt_count(r->macs, b, sizeof b));
			x += L.w[C_MACS];
		}
		if (L.on[C_SQNR]) {
			int c = cur >= 0 ? cur : 0;
			if (!r->has_local[c])
				snprintf(b, sizeof b, "%s", tui_g.dot);
			else if (isinf(r->local[c]))
				snprintf(b, sizeof b, "exact");
			else
				snprintf(b, sizeof b, "%.1f", r->local[c]);
			enum tui_role sr = sel ? R_SELECTED : cur < 0 ? R_DIM
					   : r->has_local[c] && r->local[c] < 20 ? R_WARN : R_NORMAL;
			tui_put_right(y, x, L.w[C_SQNR] - 1, sr, b);
			x += L.w[C_SQNR];
		}
		for (int c = 0; c < nc; c++) {
			heat_text(&r->iso[c], L.heat_mode, b, sizeof b);
			enum tui_role hr = tui_heat_role(&r->iso[c]);
			/* a pointer marks the candidate the node runs at */
			if (c == cur)
				tui_put(y, x, 1, sel ? R_SELECTED : R_VALUE, tui_g.arrow_r);
			tui_put_right(y, x + 1, L.w[C_HEAT] - 1, hr == R_DIM && sel ? R_SELECTED : hr, b);
			x += L.w[C_HEAT];
		}
		precision_label(&p, b, sizeof b);
		if (cur < 0 && !precision_is_fp32(&p)) {
			/* a custom precision (its own calibrator): show it */
			size_t l = strlen(b);
			snprintf(b + l, sizeof b - l, "/%.4s", calib_method_name(p.acalib.method));
		}
		tui_put(y, x + 1, L.w[C_PREC] - 1, sel ? R_SELECTED : tui_prec_role(&p), b);
	}
}

static void move_sel(struct tui *t, int delta, bool absolute)
{
	const struct tui_row *rows;
	tui_model_rows(t->m, &rows);
	if (!t->n_order)
		return;
	int i = sel_index(t, rows);
	if (i < 0)
		i = 0;
	i = absolute ? delta : i + delta;
	if (i < 0)
		i = 0;
	if (i >= t->n_order)
		i = t->n_order - 1;
	t->sel_node = rows[t->order[i]].node;
}

static bool layers_action(struct tui *t, enum tui_action a)
{
	int page = t->table_h > 1 ? t->table_h - 1 : 1;
	const struct tui_row *r = tui_sel_row(t, NULL);
	switch (a) {
	case A_UP: move_sel(t, -1, false); return true;
	case A_DOWN: move_sel(t, 1, false); return true;
	case A_PGUP: move_sel(t, -page, false); return true;
	case A_PGDN: move_sel(t, page, false); return true;
	case A_HOME: move_sel(t, 0, true); return true;
	case A_END: move_sel(t, t->n_order - 1, true); return true;
	case A_SORT:
		t->sort = (enum tui_sort)((t->sort + 1) % SORT_COUNT);
		tui_rebuild_order(t);
		tui_message(t, R_STATUS, "sorted by %s", t->sort == SORT_GRAPH ? "graph order"
			    : t->sort == SORT_SENS ? "sensitivity (first candidate's isolate delta)"
						   : "size (parameters)");
		return true;
	case A_PREC_NEXT: tui_prec_step(t, 1); return true;
	case A_PREC_PREV: tui_prec_step(t, -1); return true;
	case A_PREC_MENU: tui_open_prec_menu(t); return true;
	case A_PREC_FP32: {
		if (!r)
			return true;
		struct precision p;
		precision_preset("fp32", &p, NULL);
		tui_model_set(t->m, r->node, &p);
		return true;
	}
	case A_SET_OP:
	case A_SET_ALL: {
		if (!r)
			return true;
		struct precision p = policy_node(tui_model_policy(t->m), r->node);
		char lab[48];
		precision_label(&p, lab, sizeof lab);
		if (a == A_SET_OP) {
			const struct graph *g = tui_model_graph(t->m);
			tui_model_set_op(t->m, g->nodes[r->node].op_type, &p);
			tui_message(t, R_STATUS, "every %s node now runs at %s (u undoes)", r->op, lab);
		} else {
			tui_model_set_all(t->m, &p);
			tui_message(t, R_STATUS, "every node now runs at %s (u undoes)", lab);
		}
		return true;
	}
	case A_DETAIL:
		t->detail_open = !t->detail_open;
		return true;
	default:
		return false;
	}
}

static bool layers_mouse(struct tui *t, int y, int x, int dy, bool dbl)
{
	if (dy) {
		move_sel(t, 3 * dy, false);
		return true;
	}
	if (y < t->table_y || y >= t->table_y + t->table_h || x < t->table_x ||
	    x >= t->table_x + t->table_w)
		return false;
	int i = t->top + (y - t->table_y);
	if (i < 0 || i >= t->n_order)
		return false;
	const struct tui_row *rows;
	tui_model_rows(t->m, &rows);
	t->sel_node = rows[t->order[i]].node;
	if (dbl)
		t->detail_open = true;
	return true;
}

const struct view_class view_layers = { "layers", layers_draw, layers_action, layers_mouse };
